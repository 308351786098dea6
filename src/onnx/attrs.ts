// Typed reads of a node's attributes: each accessor checks the attribute's type and returns the
// default the caller names (ONNX's default for that op) when it is absent. The window attributes of
// Conv, ConvTranspose and the pools (strides, dilations, pads, auto_pad) are parsed and checked here
// once, for shape inference and for the gradients alike.
import { OnnxError } from './errors.js';
import type { Attribute, Node } from './ir.js';

/** A node, or anything holding a node's attributes (a node being rewritten). */
export type AttrSource = Pick<Node, 'attributes'>;
const get = (n: AttrSource, key: string): Attribute | undefined => n.attributes[key];

export const attrInt = (n: AttrSource, key: string, d: number): number => { const a = get(n, key); return a?.type === 'int' ? a.value : d; };
/** A float attribute (an int one is read as its value). */
export const attrFloat = (n: AttrSource, key: string, d: number): number => { const a = get(n, key); return a?.type === 'float' || a?.type === 'int' ? a.value : d; };
export const attrInts = (n: AttrSource, key: string): number[] | undefined => { const a = get(n, key); return a?.type === 'ints' ? a.value : undefined; };
export const attrString = (n: AttrSource, key: string, d: string): string => { const a = get(n, key); return a?.type === 'string' ? a.value : d; };

/** ONNX's default epsilon of the normalisation ops (BatchNormalization, LayerNormalization, InstanceNormalization). */
export const DEFAULT_EPSILON = 1e-5;
export const epsilonOf = (n: AttrSource): number => attrFloat(n, 'epsilon', DEFAULT_EPSILON);

/** A window attribute (strides, dilations, pads, kernel_shape) of the right length and range, or a SHAPE error. */
export function windowAttr(n: Node, name: string, length: number, min: number, fill: number): number[] {
  const v = attrInts(n, name) ?? new Array(length).fill(fill);
  if (v.length !== length || !v.every((e) => Number.isSafeInteger(e) && e >= min)) {
    throw new OnnxError('SHAPE', `${name} [${v.join(', ')}] must hold ${length} integers >= ${min} (one per ${name === 'pads' ? 'side of each ' : ''}spatial axis)`);
  }
  return v;
}

/** The window attributes of a Conv, ConvTranspose or pooling node over `spatial` axes (pads: all begins, then all ends). */
export interface WindowAttrs { strides: number[]; dilations: number[]; pads: number[]; autoPad: string }

export function windowAttrs(n: Node, spatial: number): WindowAttrs {
  return {
    strides: windowAttr(n, 'strides', spatial, 1, 1),
    dilations: windowAttr(n, 'dilations', spatial, 1, 1),
    pads: windowAttr(n, 'pads', 2 * spatial, 0, 0),
    autoPad: attrString(n, 'auto_pad', 'NOTSET'),
  };
}

/** Explicit geometry of a Conv/Pool node: auto_pad resolved against static spatial dims. */
export interface SpatialGeometry {
  /** Static spatial input dims. */
  in: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
}

/** Resolves strides/dilations/pads/auto_pad of a Conv or pooling node into explicit values (as ORT does). */
export function spatialGeometry(node: Node, inDims: number[], kernel: number[]): SpatialGeometry {
  const sp = inDims.length;
  const { strides, dilations, autoPad, pads: given } = windowAttrs(node, sp);
  let pads = given;
  if (autoPad === 'VALID') pads = new Array(2 * sp).fill(0);
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = new Array(2 * sp).fill(0);
    for (let i = 0; i < sp; i++) {
      const ek = (kernel[i] - 1) * dilations[i] + 1;
      const total = Math.max(0, (Math.ceil(inDims[i] / strides[i]) - 1) * strides[i] + ek - inDims[i]);
      const head = autoPad === 'SAME_LOWER' ? Math.ceil(total / 2) : Math.floor(total / 2);
      pads[i] = head;
      pads[i + sp] = total - head;
    }
  } else if (autoPad !== 'NOTSET') {
    throw new OnnxError('UNSUPPORTED_OP', `${node.opType} "${node.name}": unknown auto_pad "${autoPad}"`);
  }
  return { in: inDims, kernel, strides, dilations, padsBegin: pads.slice(0, sp), padsEnd: pads.slice(sp) };
}
