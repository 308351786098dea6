// generalist artifacts: build the training artifacts of a zoo model or an ONNX file into a folder.
import { buildArtifacts } from '../../artifacts/build.js';
import { writeArtifacts } from '../../artifacts/store.js';
import { loadSourceModel, withImageShape } from '../../train/source.js';
import { CliError, intOption, parseCommandArgs, type Command } from '../command.js';

export const artifactsCommand: Command = {
  name: 'artifacts',
  summary: 'Build training artifacts (train_step, attack, eval, ema ONNX graphs + manifest)',
  usage: `Usage: generalist artifacts <zoo-name | model.onnx> -o DIR [options]

Writes train_step.onnx, attack.onnx, eval.onnx, ema.onnx and manifest.json: standard ONNX ops
only, so any ONNX Runtime build (CPU, CUDA, WebGPU, WASM) runs them.

Options:
  -o, --out DIR        Output folder (required)
  --loss ce|trades     Training loss of train_step (default ce)
  --optimizer NAME     sgd, adam or adamw (default sgd)
  --nesterov           Nesterov momentum (sgd)
  --pgd-steps K        Steps of the unrolled PGD attack (default 10)
  --attack-loss L      ce, kl or cw (default: kl for trades, else ce)
  --loop               Write the attack as an ONNX Loop over one step (default: K unrolled steps)
  --nchw-images        The model takes channels-last [N, H, W, C] images: the artifacts take
                       [N, C, H, W] and transpose them in the graph (default: the model's layout)
  --image-shape C,H,W  Image dims for a model exported with symbolic ones (dynamic H and W); the
                       gradients need static dims
  --seed N             Seed of a zoo model's initial weights (default 0)
  -h, --help           Show this help`,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('artifacts', argv, {
      out: { type: 'string', short: 'o' }, loss: { type: 'string' }, optimizer: { type: 'string' }, nesterov: { type: 'boolean' },
      'pgd-steps': { type: 'string' }, 'attack-loss': { type: 'string' }, seed: { type: 'string' }, loop: { type: 'boolean' }, 'nchw-images': { type: 'boolean' }, 'image-shape': { type: 'string' },
    }, { min: 1, max: 1, what: 'model (a zoo name or a .onnx file)' });
    if (!values.out) throw new CliError('missing -o DIR', 2);
    const pick = <T extends string>(v: string | undefined, allowed: readonly T[], flag: string): T | undefined => {
      if (v === undefined) return undefined;
      if (!allowed.includes(v as T)) throw new CliError(`--${flag} must be one of ${allowed.join(', ')}, got "${v}"`, 2);
      return v as T;
    };
    let model = loadSourceModel(positionals[0], intOption(values.seed, 'seed', 'artifacts', { min: 0 }) ?? 0);
    const layout = values['nchw-images'] ? 'nhwc' : 'nchw';
    if (values['image-shape'] !== undefined) {
      const dims = values['image-shape'].split(',').map((t) => Number(t.trim()));
      if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) throw new CliError(`--image-shape must be C,H,W (three positive integers), got "${values['image-shape']}"`, 2);
      model = withImageShape(model, dims, layout);
    }
    const t0 = performance.now();
    const built = buildArtifacts(model, {
      loss: pick(values.loss, ['ce', 'trades'] as const, 'loss'),
      optimizer: pick(values.optimizer, ['sgd', 'adam', 'adamw'] as const, 'optimizer'),
      nesterov: values.nesterov ?? false,
      pgdSteps: intOption(values['pgd-steps'], 'pgd-steps', 'artifacts', { min: 1, max: 1000 }),
      attackLoss: pick(values['attack-loss'], ['ce', 'kl', 'cw'] as const, 'attack-loss'),
      attackForm: values.loop ? 'loop' : 'unrolled',
      inputLayout: layout,
    });
    writeArtifacts(built, values.out);
    const m = built.manifest;
    io.out(`wrote ${values.out}: ${m.params.length} parameter tensors, ${m.stats.length} BN statistics, PGD-${m.options.pgdSteps} (${m.options.attackLoss}), ${m.options.optimizer}, loss ${m.options.loss}${m.options.inputLayout === 'nhwc' ? ', NCHW images into a channels-last model' : ''}; ${((performance.now() - t0) / 1000).toFixed(1)} s; hash ${m.hash.slice(0, 16)}`);
    return 0;
  },
};
