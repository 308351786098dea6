// Shared layer helpers for the model zoo: PyTorch-style modules (Conv2d, Linear, BatchNorm2d, ...)
// emitted as ONNX inference nodes through GraphBuilder, with PyTorch's default initialisation drawn
// from the project's seeded Rng. Parameter names follow PyTorch state_dict keys
// (`layer1.0.conv1.weight`, `layer1.0.bn1.running_mean`) so checkpoints map over one to one.
import { GraphBuilder, f32 } from '../onnx/builder.js';
import { DataType, numel, type Model } from '../onnx/ir.js';
import { Rng } from '../util/rng.js';

/** PyTorch BatchNorm2d defaults, in ONNX terms (ONNX momentum = 1 - PyTorch momentum). */
export const BN_EPSILON = 1e-5;
export const BN_MOMENTUM = 0.9;

/** Name of the model's image input and its logits output. */
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';

export type ImageShape = [channels: number, height: number, width: number];

export interface Conv2dOptions {
  kernel: number;
  stride?: number;
  padding?: number;
  /** Default true, as in torch.nn.Conv2d. */
  bias?: boolean;
}

/**
 * kaiming_uniform_(a=sqrt(5)) as torch.nn.Conv2d / nn.Linear use it: bound = gain * sqrt(3 / fan_in)
 * with gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), i.e. 1 / sqrt(fan_in). The bias uses the same bound.
 */
export const defaultInitBound = (fanIn: number): number => 1 / Math.sqrt(fanIn);

/**
 * Builds one zoo network: a GraphBuilder plus the Rng that initialises its parameters, with one
 * method per PyTorch module. Every method takes the PyTorch module path (`layer1.0.conv1`) and
 * reads input channels/features from the builder's shape facts, so the graph and the parameter
 * shapes cannot disagree.
 */
export class LayerBuilder {
  readonly b: GraphBuilder;
  readonly rng: Rng;

  constructor(opts: { name: string; seed: number }) {
    this.b = new GraphBuilder({ name: opts.name });
    this.rng = new Rng(opts.seed);
  }

  /** The image input `input` ['N', C, H, W] float32. */
  input(shape: ImageShape): string {
    return this.b.input(INPUT_NAME, DataType.FLOAT, ['N', ...shape]);
  }

  /** Static size of dimension `axis` of `x` (throws with the module name if unknown). */
  dim(x: string, axis: number, who: string): number {
    const s = this.b.shape(x);
    const d = s?.[axis];
    if (typeof d !== 'number') throw new Error(`${who}: dimension ${axis} of "${x}" is not static (shape [${s ?? '?'}])`);
    return d;
  }

  /** A float32 initializer filled with U(-bound, bound). */
  uniformParam(name: string, dims: number[], bound: number): string {
    const data = new Float32Array(numel(dims));
    this.rng.fillUniform(data, -bound, bound);
    return this.b.initializer(name, f32(dims, data));
  }
  /** A float32 initializer filled with a constant. */
  constParam(name: string, dims: number[], value: number): string {
    const data = new Float32Array(numel(dims));
    if (value !== 0) data.fill(value);
    return this.b.initializer(name, f32(dims, data));
  }

  /** torch.nn.Conv2d(in, out, kernel, stride, padding, bias) on NCHW input. */
  conv2d(x: string, name: string, outChannels: number, o: Conv2dOptions): string {
    const inChannels = this.dim(x, 1, name);
    const k = o.kernel;
    const stride = o.stride ?? 1;
    const pad = o.padding ?? 0;
    const bound = defaultInitBound(inChannels * k * k);
    const w = this.uniformParam(`${name}.weight`, [outChannels, inChannels, k, k], bound);
    const inputs = [x, w];
    if (o.bias ?? true) inputs.push(this.uniformParam(`${name}.bias`, [outChannels], bound));
    const y = this.b.op('Conv', inputs, { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] }, { name });
    this.checkSpatial(y, name);
    return y;
  }

  /** torch.nn.Linear(in, out, bias) on [N, in] input: Gemm with transB=1 and weight [out, in]. */
  linear(x: string, name: string, outFeatures: number, o: { bias?: boolean; output?: string } = {}): string {
    const inFeatures = this.dim(x, 1, name);
    const bound = defaultInitBound(inFeatures);
    const w = this.uniformParam(`${name}.weight`, [outFeatures, inFeatures], bound);
    const inputs = [x, w];
    if (o.bias ?? true) inputs.push(this.uniformParam(`${name}.bias`, [outFeatures], bound));
    const outputs = o.output ? [this.b.reserve(o.output)] : undefined;
    return this.b.node('Gemm', inputs, { transB: 1 }, { name, outputs })[0];
  }

  /**
   * torch.nn.BatchNorm2d in eval mode: weight 1, bias 0, running_mean 0, running_var 1; a plain
   * 5-input BatchNormalization (epsilon 1e-5, momentum 0.9) with one output.
   */
  batchNorm2d(x: string, name: string): string {
    const c = this.dim(x, 1, name);
    const inputs = [
      this.constParam(`${name}.weight`, [c], 1),
      this.constParam(`${name}.bias`, [c], 0),
      this.constParam(`${name}.running_mean`, [c], 0),
      this.constParam(`${name}.running_var`, [c], 1),
    ];
    return this.b.op('BatchNormalization', [x, ...inputs], { epsilon: BN_EPSILON, momentum: BN_MOMENTUM }, { name });
  }

  relu(x: string, name = 'relu'): string {
    return this.b.op('Relu', [x], {}, { name });
  }
  add(a: string, b: string, name = 'add'): string {
    return this.b.op('Add', [a, b], {}, { name });
  }
  maxPool2d(x: string, kernel: number, stride = kernel, name = 'maxpool'): string {
    const y = this.b.op('MaxPool', [x], { kernel_shape: [kernel, kernel], strides: [stride, stride] }, { name });
    this.checkSpatial(y, name);
    return y;
  }
  /** Fails early, naming the layer, when the input image is too small for a kernel. */
  private checkSpatial(y: string, who: string): void {
    const h = this.dim(y, 2, who);
    const w = this.dim(y, 3, who);
    if (h < 1 || w < 1) throw new Error(`${who}: the input image is too small (this layer's output would be ${h}x${w})`);
  }
  globalAvgPool(x: string, name = 'avgpool'): string {
    return this.b.op('GlobalAveragePool', [x], {}, { name });
  }
  flatten(x: string, name = 'flatten'): string {
    return this.b.op('Flatten', [x], { axis: 1 }, { name });
  }

  /** Marks `logits` as the graph output and returns the Model. */
  finish(logits: string, metadata: Record<string, string> = {}): Model {
    this.b.output(logits, OUTPUT_NAME);
    return this.b.build({ metadata });
  }
}

/** Validates and normalises the options every zoo builder takes. */
export function resolveBuildOptions(
  model: string,
  defaults: { inputShape: ImageShape; classes: number },
  opts: { seed?: number; classes?: number; inputShape?: readonly number[] },
): { seed: number; classes: number; inputShape: ImageShape } {
  const seed = opts.seed ?? 0;
  const classes = opts.classes ?? defaults.classes;
  const inputShape = (opts.inputShape ? [...opts.inputShape] : [...defaults.inputShape]) as ImageShape;
  if (!Number.isInteger(seed)) throw new Error(`${model}: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`${model}: classes must be a positive integer, got ${classes}`);
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${model}: inputShape must be [C, H, W] of positive integers, got [${inputShape}]`);
  }
  return { seed, classes, inputShape };
}

/** Metadata every zoo model carries (what it is and how it was initialised). */
export const zooMetadata = (name: string, o: { seed: number; classes: number; inputShape: ImageShape }): Record<string, string> => ({
  'zoo.model': name,
  'zoo.classes': String(o.classes),
  'zoo.input_shape': o.inputShape.join(','),
  'zoo.seed': String(o.seed),
  'zoo.init': 'pytorch-default',
});
