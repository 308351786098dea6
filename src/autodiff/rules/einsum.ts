// Einsum with explicit output subscripts ("bhqd,bhkd->bhqk"), each letter at most once per operand,
// no ellipsis. The gradient of operand k is again an Einsum: the other operands and the output
// gradient contracted onto k's subscripts. Letters only operand k has (summed away in the forward)
// come back by Unsqueeze + Expand, since an Einsum cannot create an axis.
import { attrString } from '../../onnx/attrs.js';
import { OnnxError } from '../../onnx/errors.js';
import { registerGrad } from '../rule.js';

interface Parsed { inputs: string[]; output: string }

export function parseEinsum(equation: string, nodeName: string): Parsed {
  const eq = equation.replace(/\s+/g, '');
  const fail = (why: string) => new OnnxError('UNSUPPORTED_OP', `cannot differentiate Einsum "${nodeName}" ("${equation}"): ${why}`);
  if (eq.includes('.')) throw fail('ellipsis (...) is not supported');
  const [lhs, output] = eq.split('->');
  if (output === undefined) throw fail('the output subscripts must be explicit (write "->...")');
  const inputs = lhs.split(',');
  for (const t of [...inputs, output]) {
    if (!/^[A-Za-z]*$/.test(t)) throw fail(`subscripts "${t}" must be letters`);
    if (new Set(t).size !== t.length) throw fail(`a letter repeated within "${t}" (a diagonal) is not supported`);
  }
  return { inputs, output };
}

registerGrad({
  op: 'Einsum',
  grad: ({ b, node, g, needs }) => {
    const { inputs: subs, output } = parseEinsum(attrString(node, 'equation', ''), node.name);
    if (subs.length !== node.inputs.length) throw new OnnxError('UNSUPPORTED_OP', `Einsum "${node.name}": ${subs.length} operand subscripts for ${node.inputs.length} inputs`);
    return node.inputs.map((x, k) => {
      if (!needs[k]) return null;
      const others = subs.flatMap((s, i) => (i === k ? [] : [s]));
      const available = new Set([...others.join(''), ...output]);
      const kept = [...subs[k]].filter((c) => available.has(c)).join('');
      const operands = [...node.inputs.filter((_, i) => i !== k), g];
      let d = b.op('Einsum', operands, { equation: `${[...others, output].join(',')}->${kept}` });
      const missing = [...subs[k]].map((c, axis) => (available.has(c) ? -1 : axis)).filter((a) => a >= 0);
      if (missing.length) d = b.op('Expand', [b.unsqueeze(d, missing), b.shapeOf(x)]);
      return d;
    });
  },
});
