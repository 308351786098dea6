// The config schema in fastest-validator's language, plus what the error messages need: a
// description of what each field allows, found by walking the schema along an error's field path.
import { DATASET_NAMES } from '../data/dataset.js';

/** A fastest-validator rule (the subset this schema uses), with an optional human description. */
export interface Rule {
  type: 'number' | 'boolean' | 'string' | 'enum' | 'array' | 'tuple' | 'object';
  min?: number;
  max?: number;
  integer?: boolean;
  values?: readonly string[];
  pattern?: RegExp;
  empty?: boolean;
  items?: Rule | Rule[];
  props?: Record<string, Rule>;
  strict?: boolean;
  /** What the field allows, in words (overrides the generated description). */
  description?: string;
}

const num = (min?: number, max?: number, description?: string): Rule => ({ type: 'number', min, max, description });
const int = (min?: number, max?: number, description?: string): Rule => ({ type: 'number', integer: true, min, max, description });
const bool = (): Rule => ({ type: 'boolean' });
const oneOf = (values: readonly string[]): Rule => ({ type: 'enum', values });
const obj = (props: Record<string, Rule>): Rule => ({ type: 'object', strict: true, props });
const knots = (valueMin: number, valueMax: number | undefined, what: string): Rule => ({
  type: 'array',
  min: 1,
  items: { type: 'tuple', empty: false, items: [num(0, 1, 'a fraction of the run in [0, 1]'), num(valueMin, valueMax, `${what} in ${valueMax === undefined ? `[${valueMin}, inf)` : `[${valueMin}, ${valueMax}]`}`)] },
  description: `a non-empty list of [fraction of the run in [0, 1], ${what}${valueMax === undefined ? ` >= ${valueMin}` : ` in [${valueMin}, ${valueMax}]`}] points with nondecreasing fractions, e.g. [[0, 1], [0.5, 1], [1, 0.4]]`,
});

const optimizer = (): Rule => obj({
  type: oneOf(['sgd', 'adam', 'adamw']),
  lr: knots(0, undefined, 'learning rate'),
  momentum: num(0, 1, 'a number in [0, 1) (SGD momentum; 0 = none)'),
  nesterov: bool(),
  weightDecay: num(0, undefined, 'a number >= 0'),
  betas: { type: 'tuple', items: [num(0, 1), num(0, 1)], description: 'two numbers in [0, 1), e.g. [0.9, 0.999]' },
  epsilon: num(0, undefined, 'a number > 0, e.g. 1e-8'),
});

export const MAX_U32 = 4294967295;

export const CONFIG_SCHEMA: Rule = obj({
  name: { type: 'string', empty: false, pattern: /^(?!\.\.?$)[A-Za-z0-9._-]+$/, description: "one folder name: letters, digits, '.', '_' and '-', not '.' or '..' (it names the output folder)" },
  outDir: { type: 'string', description: "a folder path ('' = runs/<name>)" },
  seed: int(0, MAX_U32, 'an integer in [0, 4294967295]'),
  threads: int(0, 1024, 'an integer in [0, 1024] (0 = ORT default)'),
  provider: oneOf(['cpu', 'cuda', 'webgpu']),
  allowCpuFallback: bool(),
  iterationForm: oneOf(['auto', 'runs4', 'fused', 'loop', 'parallel']),
  iterationLoop: int(1, 1000, 'an integer in [1, 1000]: iterations per run of the K-loop form'),
  dataset: obj({
    name: oneOf(DATASET_NAMES),
    dir: { type: 'string', description: "a folder path ('' = the dataset's default location)" },
    validation: num(0, undefined, 'a whole count >= 0 of images, or a fraction in (0, 1) of the training set'),
    trainSubset: int(0, undefined, 'an integer >= 0 (0 = the whole training set)'),
    testSubset: int(0, undefined, 'an integer >= 0 (0 = the whole test set)'),
    augment: oneOf(['auto', 'none', 'crop-flip']),
    verify: bool(),
    classes: int(0, 256, 'an integer in [0, 256] (npy datasets: the class count; 0 = the largest label + 1, every class present)'),
  }),
  model: obj({
    source: { type: 'string', empty: false, description: "a model-zoo name (e.g. 'smallcnn') or a path to a .onnx file" },
    normalize: obj({
      mean: { type: 'array', items: num(undefined, undefined, 'a number'), description: 'a list of per-channel means in [0, 1] pixel units, e.g. [0.485, 0.456, 0.406], or [] for none' },
      std: { type: 'array', items: num(0, undefined, 'a number > 0'), description: 'a list of per-channel standard deviations > 0, e.g. [0.229, 0.224, 0.225], or [] for none' },
    }),
    trainable: { type: 'array', items: { type: 'string', empty: false }, description: "a list of initializer name patterns (globs with * and ?) that train, e.g. ['fc.*'], or [] to let discovery decide" },
    frozen: { type: 'array', items: { type: 'string', empty: false }, description: "a list of initializer name patterns (globs with * and ?) kept frozen, e.g. ['conv1.*', 'layer1.*'], or []" },
  }),
  method: oneOf(['generalist', 'natural', 'pgd-at', 'trades']),
  epochs: int(1, 100000, 'an integer in [1, 100000]'),
  batchSize: int(1, 65536, 'an integer in [1, 65536]'),
  optim: obj({ robust: optimizer(), natural: optimizer() }),
  robust: obj({
    loss: oneOf(['pgd-at', 'trades']),
    tradesBeta: num(0, undefined, 'a number >= 0 (TRADES weight of the KL term, e.g. 6)'),
  }),
  attack: obj({
    eps: num(0, 1, 'a number in [0, 1] (L-inf radius, pixels in [0, 1]; 8/255 is written 0.0313725)'),
    stepSize: num(0, 1, 'a number in [0, 1]'),
    steps: int(0, 10000, 'an integer in [0, 10000]'),
    epsRampFraction: num(0, 1, 'a fraction of the run in [0, 1] (0 = no ramp)'),
    randomStart: bool(),
  }),
  generalist: obj({
    beta: knots(0, 1, 'beta'),
    ema: obj({
      memory: num(0, undefined, "a number > 0: iterations (>= 1) when unit is 'iterations', a fraction in (0, 1] when unit is 'run'"),
      unit: oneOf(['iterations', 'run']),
      warmup: num(1, undefined, 'a number >= 1 (decay = min(max, (t+1)/(t+warmup)); 1 = no warm-up)'),
    }),
    redistribution: obj({
      enabled: bool(),
      start: num(0, 1, 'a fraction of the run in [0, 1]'),
      period: int(1, undefined, 'an integer >= 1'),
      unit: oneOf(['iterations', 'epochs']),
      wholeEpoch: bool(),
    }),
  }),
  eval: obj({
    pgdSteps: int(0, 10000, 'an integer in [0, 10000]'),
    pgdStepSize: num(0, 1, 'a number in [0, 1] (0 = 2.5 * eps / pgdSteps)'),
    n: int(0, undefined, 'an integer >= 0 (0 = the whole split)'),
    every: int(0, undefined, 'an integer >= 0 (epochs; 0 = only at the end)'),
    split: oneOf(['validation', 'test']),
    finalN: int(0, undefined, 'an integer >= 0 (0 = the whole test set)'),
    batchSize: int(0, 65536, 'an integer in [0, 65536] (0 = the training batch size)'),
  }),
  checkpoint: obj({
    every: int(0, undefined, 'an integer >= 0 (epochs; 0 = only at the end)'),
    minutes: num(0, undefined, 'a number >= 0 (minutes between mid-epoch checkpoints; 0 = off)'),
    iterations: int(0, undefined, 'an integer >= 0 (iterations between mid-epoch checkpoints; 0 = off)'),
    keep: int(0, undefined, 'an integer >= 0 (end-of-epoch checkpoints kept as checkpoint-epoch-E.bin; 0 = keep all)'),
    best: bool(),
    bestMetric: oneOf(['clean', 'robust', 'sum']),
  }),
});

/** The rule at a field path such as 'optim.robust.lr[2][0]', or undefined. */
export function ruleAt(path: string, root: Rule = CONFIG_SCHEMA): Rule | undefined {
  let r: Rule | undefined = root;
  const tokens = path.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  for (const t of tokens) {
    if (!r) return undefined;
    if (t.startsWith('[')) {
      const i = Number(t.slice(1, -1));
      if (r.type === 'array' && r.items && !Array.isArray(r.items)) r = r.items;
      else if (r.type === 'tuple' && Array.isArray(r.items)) r = r.items[i];
      else return undefined;
    } else {
      if (r.type !== 'object' || !r.props || !Object.hasOwn(r.props, t)) return undefined;
      r = r.props[t];
    }
  }
  return r;
}

/** What a rule allows, in words. */
export function describeRule(r: Rule): string {
  if (r.description) return r.description;
  switch (r.type) {
    case 'number': {
      const what = r.integer ? 'an integer' : 'a number';
      if (r.min !== undefined && r.max !== undefined) return `${what} in [${r.min}, ${r.max}]`;
      if (r.min !== undefined) return `${what} >= ${r.min}`;
      if (r.max !== undefined) return `${what} <= ${r.max}`;
      return what;
    }
    case 'boolean': return 'true or false';
    case 'string': return r.empty === false ? 'a non-empty string' : 'a string';
    case 'enum': return `one of ${(r.values ?? []).map((v) => `'${v}'`).join(', ')}`;
    case 'tuple': return `a list [${(Array.isArray(r.items) ? r.items : []).map(describeRule).join(', ')}]`;
    case 'array': return r.items && !Array.isArray(r.items) ? `a list of ${describeRule(r.items)}` : 'a list';
    case 'object': return `a group with keys ${Object.keys(r.props ?? {}).join(', ')}`;
  }
}

/** Every leaf path of the schema ('attack.eps', ...), in schema order. */
export function leafPaths(root: Rule = CONFIG_SCHEMA, prefix = ''): string[] {
  if (root.type !== 'object' || !root.props) return prefix ? [prefix] : [];
  return Object.entries(root.props).flatMap(([k, r]) => leafPaths(r, prefix ? `${prefix}.${k}` : k));
}

/** Every path of the schema, groups included ('attack', 'attack.eps', ...). */
export function allPaths(root: Rule = CONFIG_SCHEMA, prefix = ''): string[] {
  if (root.type !== 'object' || !root.props) return [];
  return Object.entries(root.props).flatMap(([k, r]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...allPaths(r, p)];
  });
}

/** Drops the description fields (fastest-validator would ignore them; this keeps the compiled schema plain). */
export function toValidatorSchema(r: Rule): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === 'description' || v === undefined) continue;
    if (k === 'props') out.props = Object.fromEntries(Object.entries(v as Record<string, Rule>).map(([pk, pr]) => [pk, toValidatorSchema(pr)]));
    else if (k === 'items') out.items = Array.isArray(v) ? (v as Rule[]).map(toValidatorSchema) : toValidatorSchema(v as Rule);
    else out[k] = v;
  }
  return out;
}
