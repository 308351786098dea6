// Pointwise activations and math: LeakyRelu, Sigmoid, Tanh, Softplus, Exp, Log, Sqrt, Abs,
// Pow (constant exponent), Clip. Each backward is a few standard pointwise ops on the saved
// input or output.
import { OnnxError } from '../../onnx/errors.js';
import { isFloatType } from '../../onnx/ir.js';
import { floatValues, shapeAttr } from '../../onnx/shapes.js';
import { registerGrad } from '../rule.js';
import { scalarLike, unbroadcast } from '../helpers.js';

registerGrad({
  op: 'LeakyRelu', saves: 'the input',
  // x > 0 ? g : alpha * g (the slope at 0 is alpha, as torch).
  grad: ({ b, node, dy: [g] }) => {
    const x = node.inputs[0];
    const alpha = shapeAttr.attrF(node, 'alpha', 0.01);
    const zero = scalarLike(b, 0, x);
    return [b.op('Where', [b.op('Greater', [x, zero]), g!, b.mul(g!, scalarLike(b, alpha, x))])];
  },
});

registerGrad({
  op: 'Sigmoid', saves: 'the output',
  grad: ({ b, node, dy: [g] }) => {
    const y = node.outputs[0];
    return [b.mul(g!, b.mul(y, b.sub(scalarLike(b, 1, y), y)))];
  },
});

registerGrad({
  op: 'Tanh', saves: 'the output',
  grad: ({ b, node, dy: [g] }) => {
    const y = node.outputs[0];
    return [b.mul(g!, b.sub(scalarLike(b, 1, y), b.mul(y, y)))];
  },
});

registerGrad({
  op: 'Softplus', saves: 'the input',
  grad: ({ b, node, dy: [g] }) => [b.mul(g!, b.op('Sigmoid', [node.inputs[0]]))],
});

registerGrad({ op: 'Exp', saves: 'the output', grad: ({ b, node, dy: [g] }) => [b.mul(g!, node.outputs[0])] });
registerGrad({ op: 'Log', saves: 'the input', grad: ({ b, node, dy: [g] }) => [b.div(g!, node.inputs[0])] });
registerGrad({
  op: 'Sqrt', saves: 'the output',
  grad: ({ b, node, dy: [g] }) => {
    const y = node.outputs[0];
    return [b.div(b.mul(g!, scalarLike(b, 0.5, y)), y)];
  },
});
registerGrad({
  op: 'Abs', saves: 'the input',
  // sign(x) * g: 0 at x = 0, as torch.
  grad: ({ b, node, dy: [g] }) => [b.mul(g!, b.op('Sign', [node.inputs[0]]))],
});

registerGrad({
  op: 'Pow', saves: 'the input and the exponent',
  // y = x^p with p constant (no gradient flows to it): dx = g * p * x^(p-1).
  grad: ({ b, node, dy: [g], needs }) => {
    const [x, p] = node.inputs;
    if (needs[1]) {
      throw new OnnxError('UNSUPPORTED_OP', `cannot differentiate node "${node.name}" (Pow) with respect to its exponent "${p}": only a constant exponent is supported`);
    }
    if (!needs[0]) return [null, null];
    const dt = b.dtype(x);
    const pv = floatValues(b.fact(p));
    let local: string;
    if (pv && pv.length === 1 && pv[0] === 1) local = g!;
    else if (pv && pv.length === 1 && pv[0] === 2) local = b.mul(g!, b.mul(x, scalarLike(b, 2, x)));
    else if (pv && pv.length === 1 && pv[0] === 0) local = b.mul(g!, scalarLike(b, 0, x));
    else {
      const pf = b.dtype(p) === dt ? p : b.cast(p, dt);
      local = b.mul(g!, b.mul(pf, b.op('Pow', [x, b.sub(pf, scalarLike(b, 1, x))])));
    }
    return [unbroadcast(b, local, x), null];
  },
});

registerGrad({
  op: 'Clip', saves: 'the input and the bounds',
  // Gradient passes where min <= x <= max (torch.clamp), is zero outside; a tensor bound gets the
  // gradient of the positions it clipped.
  grad: ({ b, node, dy: [g], needs }) => {
    const x = node.inputs[0];
    const dt = b.dtype(x);
    let lo: string | undefined = node.inputs[1] || undefined;
    let hi: string | undefined = node.inputs[2] || undefined;
    if (b.opset < 11) {
      // Clip-6: bounds are attributes.
      const a = node.attributes;
      if (a.min) lo = scalarLike(b, shapeAttr.attrF(node, 'min', 0), x);
      if (a.max) hi = scalarLike(b, shapeAttr.attrF(node, 'max', 0), x);
    }
    if (!lo && !hi) return [g, null, null];
    // Masks multiply (Mul by a cast comparison beats Where with a scalar branch on ORT CPU).
    const masked = (cond: string) => b.mul(g!, b.cast(cond, dt));
    let dx: string | null = null;
    if (needs[0]) {
      // GreaterOrEqual/LessOrEqual are opset 12; older graphs negate the strict comparison.
      const orEqual = (op: 'GreaterOrEqual' | 'LessOrEqual', v: string) =>
        b.opset >= 12 ? b.op(op, [x, v]) : b.op('Not', [b.op(op === 'GreaterOrEqual' ? 'Less' : 'Greater', [x, v])]);
      const atLeast = lo ? orEqual('GreaterOrEqual', lo) : undefined;
      const atMost = hi ? orEqual('LessOrEqual', hi) : undefined;
      dx = masked(atLeast && atMost ? b.op('And', [atLeast, atMost]) : (atLeast ?? atMost)!);
    }
    const bound = (op: 'Less' | 'Greater', v: string | undefined, k: number): string | null => {
      if (!needs[k] || !v) return null;
      if (!isFloatType(b.dtype(v)) || b.dtype(v) !== dt) return null;
      return unbroadcast(b, masked(b.op(op, [x, v])), v);
    };
    // (min > max, where ONNX outputs max everywhere, is not given special treatment for the bounds.)
    return [dx, bound('Less', lo, 1), bound('Greater', hi, 2)];
  },
});
