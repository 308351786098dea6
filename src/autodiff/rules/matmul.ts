// MatMul (with batch broadcasting) and Gemm.
import { attrInt, attrFloat } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import { registerGrad } from '../rule.js';
import { scalarLike, unbroadcast } from '../helpers.js';

/** Swaps the last two axes. */
const swapLast = (b: import('../../onnx/builder.js').GraphBuilder, x: string): string => {
  const r = b.rank(x);
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return b.transpose(x, perm);
};

registerGrad({
  op: 'MatMul',
  grad: ({ b, node, g, needs }) => {
    const [A, B] = node.inputs;
    const ra = b.rank(A);
    const rb = b.rank(B);
    if (ra < 2 || rb < 2) {
      // 1-D operands: promote to 2-D, differentiate, squeeze back.
      const A2 = ra === 1 ? b.unsqueeze(A, [0]) : A;
      const B2 = rb === 1 ? b.unsqueeze(B, [1]) : B;
      let g2 = g;
      if (ra === 1) g2 = b.unsqueeze(g2, [-2]);
      else g2 = b.unsqueeze(g2, [-1]);
      if (ra === 1 && rb === 1) throw new OnnxError('UNSUPPORTED_OP', `MatMul "${node.name}": vector-vector product gradient not supported`);
      const dA = needs[0] ? unbroadcast(b, b.matmul(g2, swapLast(b, B2)), A2) : null;
      const dB = needs[1] ? unbroadcast(b, b.matmul(swapLast(b, A2), g2), B2) : null;
      return [dA && ra === 1 ? b.squeeze(dA, [0]) : dA, dB && rb === 1 ? b.squeeze(dB, [1]) : dB];
    }
    const dA = needs[0] ? unbroadcast(b, b.matmul(g, swapLast(b, B)), A) : null;
    const dB = needs[1] ? unbroadcast(b, b.matmul(swapLast(b, A), g), B) : null;
    return [dA, dB];
  },
});

registerGrad({
  op: 'Gemm',
  // Y = alpha * op(A) op(B) + beta * C, op = optional transpose.
  grad: ({ b, node, g, needs }) => {
    const [A, B, C] = node.inputs;
    const tA = attrInt(node, 'transA', 0);
    const tB = attrInt(node, 'transB', 0);
    const alpha = attrFloat(node, 'alpha', 1);
    const beta = attrFloat(node, 'beta', 1);
    const ga = alpha === 1 ? g : b.mul(g, scalarLike(b, alpha, g));
    let dA: string | null = null;
    let dB: string | null = null;
    // dA: if !tA: ga @ op(B)^T  else (ga @ op(B)^T)^T = op(B) @ ga^T
    if (needs[0]) dA = !tA ? b.gemm(ga, B, undefined, { transB: tB ? 0 : 1 }) : b.gemm(B, ga, undefined, { transA: tB, transB: 1 });
    // dB: if !tB: op(A)^T @ ga  else ga^T @ op(A)
    if (needs[1]) dB = !tB ? b.gemm(A, ga, undefined, { transA: tA ? 0 : 1 }) : b.gemm(ga, A, undefined, { transA: 1, transB: tA });
    let dC: string | null = null;
    if (C && needs[2]) dC = unbroadcast(b, beta === 1 ? g : b.mul(g, scalarLike(b, beta, g)), C);
    return [dA, dB, dC];
  },
});
