// ONNX I/O hardening: exact round trips for every supported dtype and both tensor encodings, models
// written with the raw protobuf API (not our saveModel), and one clear OnnxError per malformed input.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelProto, TensorProto } from '../src/onnx/schema.js';
import { loadModel, loadModelFile } from '../src/onnx/load.js';
import { saveModel } from '../src/onnx/save.js';
import { OnnxError, type OnnxErrorCode } from '../src/onnx/errors.js';
import { DataType, dataBytes, tensor, type Model } from '../src/onnx/ir.js';
import { GraphBuilder, f32 } from '../src/onnx/builder.js';
import { inferShapes } from '../src/onnx/shapes.js';
import { ort, runModel } from '../src/runtime/ort.js';

// ---------- raw protobuf helpers (deliberately not our saveModel) ----------
type Dims = (number | string | null)[];
const vi = (name: string, elem = DataType.FLOAT, dims?: Dims) => ({
  name,
  type: { tensor_type: { elem_type: elem, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})) } } : {}) } },
});
const encode = (obj: Record<string, unknown>): Uint8Array => ModelProto.encode(ModelProto.fromObject(obj)).finish();
const model = (graph: Record<string, unknown>, extra: Record<string, unknown> = {}): Uint8Array =>
  encode({ ir_version: 8, opset_import: [{ domain: '', version: 17 }], producer_name: 'raw-protobuf-test', graph, ...extra });
/** x [2] -> Relu -> y, plus whatever `extra` replaces. */
const relu = (extra: Record<string, unknown> = {}) => model({
  name: 'g', node: [{ op_type: 'Relu', input: ['x'], output: ['y'], name: 'r' }], input: [vi('x', DataType.FLOAT, [2])], output: [vi('y', DataType.FLOAT, [2])], ...extra,
});
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

function expectOnnxError(f: () => unknown, code: OnnxErrorCode, message: RegExp): OnnxError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected OnnxError ${code}`).toBeInstanceOf(OnnxError);
  const e = err as OnnxError;
  expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.stringMatching(message) });
  return e;
}

/** load -> save -> load gives the same Model, and saving that again gives the same bytes. */
function expectStableRoundTrip(m1: Model): Uint8Array {
  const b1 = saveModel(m1);
  const m2 = loadModel(b1);
  expect(m2).toEqual(m1);
  for (const [name, t] of m1.graph.initializers) expect(dataBytes(m2.graph.initializers.get(name)!.data)).toEqual(dataBytes(t.data));
  const b2 = saveModel(m2);
  expect(Buffer.compare(Buffer.from(b2), Buffer.from(b1))).toBe(0);
  return b1;
}

// Tensor contents for every supported dtype (with negative values, extremes, NaN/Inf where they exist).
const SAMPLES: { dtype: DataType; data: ArrayBufferView; typed?: { field: string; values: unknown[] } }[] = [
  { dtype: DataType.FLOAT, data: Float32Array.of(1.5, -0, Number.NaN, Infinity, -3.25e-39, 3.4e38), typed: { field: 'float_data', values: [1.5, -0, Number.NaN, Infinity, -3.25e-39, 3.4e38] } },
  { dtype: DataType.FLOAT16, data: Uint16Array.of(0x3c00, 0xc000, 0x7c00, 0x0001, 0xfbff, 0x7e00), typed: { field: 'int32_data', values: [0x3c00, 0xc000, 0x7c00, 0x0001, 0xfbff, 0x7e00] } },
  { dtype: DataType.DOUBLE, data: Float64Array.of(Math.PI, -1e308, 5e-324, -0, Number.NaN, 1), typed: { field: 'double_data', values: [Math.PI, -1e308, 5e-324, -0, Number.NaN, 1] } },
  { dtype: DataType.INT64, data: BigInt64Array.of(0n, -1n, 9223372036854775807n, -9223372036854775808n, 1n << 40n, -12345n), typed: { field: 'int64_data', values: ['0', '-1', '9223372036854775807', '-9223372036854775808', String(1n << 40n), '-12345'] } },
  { dtype: DataType.INT32, data: Int32Array.of(0, -1, 2147483647, -2147483648, 7, -7), typed: { field: 'int32_data', values: [0, -1, 2147483647, -2147483648, 7, -7] } },
  { dtype: DataType.UINT8, data: Uint8Array.of(0, 1, 127, 128, 254, 255), typed: { field: 'int32_data', values: [0, 1, 127, 128, 254, 255] } },
  { dtype: DataType.INT8, data: Int8Array.of(0, -1, 127, -128, 5, -5), typed: { field: 'int32_data', values: [0, -1, 127, -128, 5, -5] } },
  { dtype: DataType.BOOL, data: Uint8Array.of(1, 0, 0, 1, 1, 0), typed: { field: 'int32_data', values: [1, 0, 0, 1, 1, 0] } },
  { dtype: DataType.INT16, data: Int16Array.of(0, -1, 32767, -32768, 3, -3) },
  { dtype: DataType.UINT16, data: Uint16Array.of(0, 1, 65535, 32768, 3, 9) },
  { dtype: DataType.UINT32, data: Uint32Array.of(0, 1, 4294967295, 2147483648, 3, 9) },
  { dtype: DataType.UINT64, data: BigUint64Array.of(0n, 1n, 18446744073709551615n, 1n << 63n, 3n, 9n) },
];
const initGraph = (initializer: unknown[]) => ({
  name: 'g', node: [{ op_type: 'Identity', input: ['x'], output: ['y'], name: 'id' }],
  input: [vi('x', DataType.FLOAT, ['N', 3])], output: [vi('y', DataType.FLOAT, ['N', 3])], initializer,
});

describe('round trip', () => {
  it('keeps every supported dtype byte-identical from raw_data', () => {
    const bytes = model(initGraph(SAMPLES.map((s, i) => ({ name: `t${i}`, dims: [2, 3], data_type: s.dtype, raw_data: bytesOf(s.data) }))));
    const m = loadModel(bytes);
    SAMPLES.forEach((s, i) => {
      const t = m.graph.initializers.get(`t${i}`)!;
      expect(t.dtype).toBe(s.dtype);
      expect(t.dims).toEqual([2, 3]);
      expect(dataBytes(t.data)).toEqual(bytesOf(s.data));
    });
    // Our writer uses raw_data too: each tensor is written back byte for byte.
    const again = loadModel(saveModel(m));
    SAMPLES.forEach((s, i) => expect(dataBytes(again.graph.initializers.get(`t${i}`)!.data)).toEqual(bytesOf(s.data)));
    expectStableRoundTrip(m);
  });

  it('reads the typed fields (float_data, int32_data, int64_data, double_data) into the same bits', () => {
    const typed = SAMPLES.filter((s) => s.typed);
    expect(typed.map((s) => s.dtype).sort()).toEqual([DataType.FLOAT, DataType.UINT8, DataType.INT8, DataType.INT32, DataType.INT64, DataType.BOOL, DataType.FLOAT16, DataType.DOUBLE].sort());
    const bytes = model(initGraph(typed.map((s, i) => ({ name: `t${i}`, dims: [3, 2], data_type: s.dtype, [s.typed!.field]: s.typed!.values }))));
    const m = loadModel(bytes);
    typed.forEach((s, i) => {
      const t = m.graph.initializers.get(`t${i}`)!;
      expect(t.dtype).toBe(s.dtype);
      expect(t.dims).toEqual([3, 2]);
      expect(dataBytes(t.data), `${DataType[s.dtype]} from ${s.typed!.field}`).toEqual(bytesOf(s.data));
    });
    expectStableRoundTrip(m);
  });

  it('handles scalars and empty tensors', () => {
    const m = loadModel(model(initGraph([
      { name: 's', dims: [], data_type: DataType.FLOAT, float_data: [2.5] },
      { name: 'e', dims: [0, 4], data_type: DataType.FLOAT },
      { name: 'r', dims: [], data_type: DataType.INT64, raw_data: bytesOf(BigInt64Array.of(-3n)) },
    ])));
    expect(Array.from(m.graph.initializers.get('s')!.data as Float32Array)).toEqual([2.5]);
    expect(m.graph.initializers.get('e')!.data.length).toBe(0);
    expect(m.graph.initializers.get('r')!.data[0]).toBe(-3n);
    expectStableRoundTrip(m);
  });

  it('loads a raw-protobuf model: dim_param/dim_value shapes, every attribute type, metadata', () => {
    const t = (name: string, v: number[]) => ({ name, dims: [v.length], data_type: DataType.FLOAT, float_data: v });
    const sub = (name: string) => ({ name, node: [{ op_type: 'Identity', input: ['x'], output: [`${name}_out`], name: `${name}_id` }], output: [vi(`${name}_out`)] });
    const bytes = model({
      name: 'attrs',
      node: [{
        op_type: 'Custom', domain: 'test.domain', name: 'c', input: ['x'], output: ['y'],
        attribute: [
          { name: 'f', type: 1, f: 0.25 },
          { name: 'i', type: 2, i: -7 },
          { name: 's', type: 3, s: new TextEncoder().encode('héllo') },
          { name: 't', type: 4, t: t('tt', [1, 2]) },
          { name: 'g', type: 5, g: sub('body') },
          { name: 'fs', type: 6, floats: [0.5, -1.5] },
          { name: 'is', type: 7, ints: [1, -2, 3] },
          { name: 'ss', type: 8, strings: [new TextEncoder().encode('a'), new TextEncoder().encode('')] },
          { name: 'ts', type: 9, tensors: [t('a', [1]), t('b', [2, 3])] },
          { name: 'gs', type: 10, graphs: [sub('g0'), sub('g1')] },
          { name: 'untyped_int', i: 5 }, // IR < 3 style: type omitted
          { name: 'big', type: 7, ints: ['9223372036854775807', '-9223372036854775808'] }, // Slice-1 style sentinels
        ],
      }],
      input: [vi('x', DataType.FLOAT, ['batch', 3, null, 224])],
      output: [vi('y', DataType.FLOAT)],
      value_info: [vi('x', DataType.FLOAT, ['batch', 3, null, 224])],
    }, { opset_import: [{ domain: '', version: 13 }, { domain: 'test.domain', version: 1 }], producer_version: '9.9', doc_string: 'doc', metadata_props: [{ key: 'k', value: 'v' }] });
    const m = loadModel(bytes);
    expect(m.opsetImports).toEqual([{ domain: '', version: 13 }, { domain: 'test.domain', version: 1 }]);
    expect([m.producerName, m.producerVersion, m.docString, m.metadata]).toEqual(['raw-protobuf-test', '9.9', 'doc', { k: 'v' }]);
    expect(m.graph.inputs[0]).toEqual({ name: 'x', dtype: DataType.FLOAT, shape: ['batch', 3, null, 224] });
    expect(m.graph.outputs[0].shape).toBeUndefined();
    const a = m.graph.nodes[0].attributes;
    expect(m.graph.nodes[0].domain).toBe('test.domain');
    expect(a.f).toEqual({ type: 'float', value: 0.25 });
    expect(a.i).toEqual({ type: 'int', value: -7 });
    expect(a.s).toEqual({ type: 'string', value: 'héllo' });
    expect(a.t.type === 'tensor' && Array.from(a.t.value.data as Float32Array)).toEqual([1, 2]);
    expect(a.g.type === 'graph' && a.g.value.nodes[0].name).toBe('body_id');
    expect(a.fs).toEqual({ type: 'floats', value: [0.5, -1.5] });
    expect(a.is).toEqual({ type: 'ints', value: [1, -2, 3] });
    expect(a.ss).toEqual({ type: 'strings', value: ['a', ''] });
    expect(a.ts.type === 'tensors' && a.ts.value.map((x) => x.dims)).toEqual([[1], [2]]);
    expect(a.gs.type === 'graphs' && a.gs.value.map((g) => g.name)).toEqual(['g0', 'g1']);
    expect(a.untyped_int).toEqual({ type: 'int', value: 5 });
    expect(a.big).toEqual({ type: 'ints', value: [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER] });
    expectStableRoundTrip(m);
  });

  it('loads If and Loop subgraphs that read outer-scope values, and ORT agrees before and after the round trip', async () => {
    const bytes = model({
      name: 'control',
      node: [
        { op_type: 'Relu', input: ['x'], output: ['rx'], name: 'relu' },
        {
          op_type: 'If', input: ['cond'], output: ['if_out'], name: 'if',
          attribute: [
            { name: 'then_branch', type: 5, g: { name: 'then', node: [{ op_type: 'Add', input: ['rx', 'w'], output: ['then_out'], name: 'then_add' }], output: [vi('then_out', DataType.FLOAT, [3])] } },
            { name: 'else_branch', type: 5, g: { name: 'else', node: [{ op_type: 'Sub', input: ['x', 'w'], output: ['else_out'], name: 'else_sub' }], output: [vi('else_out', DataType.FLOAT, [3])] } },
          ],
        },
        {
          op_type: 'Loop', input: ['trip', '', 'if_out'], output: ['loop_out'], name: 'loop',
          attribute: [{
            name: 'body', type: 5, g: {
              name: 'body',
              input: [vi('iter', DataType.INT64, []), vi('c_in', DataType.BOOL, []), vi('v', DataType.FLOAT, [3])],
              node: [
                { op_type: 'Identity', input: ['c_in'], output: ['c_out'], name: 'body_cond' },
                { op_type: 'Mul', input: ['v', 'rx'], output: ['v_out'], name: 'body_mul' }, // rx: outer-scope node output
              ],
              output: [vi('c_out', DataType.BOOL, []), vi('v_out', DataType.FLOAT, [3])],
            },
          }],
        },
      ],
      input: [vi('x', DataType.FLOAT, [3]), vi('cond', DataType.BOOL, [])],
      output: [vi('loop_out', DataType.FLOAT, [3])],
      initializer: [
        { name: 'w', dims: [3], data_type: DataType.FLOAT, float_data: [10, 20, 30] },
        { name: 'trip', dims: [], data_type: DataType.INT64, int64_data: [2] },
      ],
    });
    const m = loadModel(bytes);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['relu', 'if', 'loop']);
    const body = m.graph.nodes[2].attributes.body;
    expect(body.type === 'graph' && body.value.inputs.map((v) => v.name)).toEqual(['iter', 'c_in', 'v']);
    const saved = expectStableRoundTrip(m);
    const x = new ort.Tensor('float32', Float32Array.of(1, -2, 3), [3]);
    for (const c of [true, false]) {
      const feeds = { x, cond: new ort.Tensor('bool', [c], []) };
      const [a, b] = [await runModel(bytes, feeds), await runModel(saved, feeds)];
      // then: (relu(x)+w) * relu(x)^2; else: (x-w) * relu(x)^2
      const want = c ? [11, 0, 297] : [-9, -0, -243];
      expect(Array.from(a.loop_out.data as Float32Array)).toEqual(want);
      expect(Array.from(b.loop_out.data as Float32Array)).toEqual(want);
    }
  });

  it('orders a subgraph reader after the producer of the outer value it reads', () => {
    const m = loadModel(model({
      name: 'g',
      node: [
        { op_type: 'If', input: ['cond'], output: ['y'], name: 'if', attribute: [
          { name: 'then_branch', type: 5, g: { name: 't', node: [{ op_type: 'Identity', input: ['late'], output: ['o1'], name: 'ti' }], output: [vi('o1')] } },
          { name: 'else_branch', type: 5, g: { name: 'e', node: [{ op_type: 'Identity', input: ['x'], output: ['o2'], name: 'ei' }], output: [vi('o2')] } },
        ] },
        { op_type: 'Relu', input: ['x'], output: ['late'], name: 'producer' },
      ],
      input: [vi('x', DataType.FLOAT, [2]), vi('cond', DataType.BOOL, [])], output: [vi('y')],
    }));
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['producer', 'if']);
  });

  it('keeps the file order of a valid graph (stable topological sort), fixes an invalid one minimally', () => {
    const nodes = [
      { op_type: 'Relu', input: ['x'], output: ['a'], name: 'A' },
      { op_type: 'Neg', input: ['a'], output: ['b'], name: 'B' },
      { op_type: 'Constant', input: [], output: ['c'], name: 'C', attribute: [{ name: 'value_float', type: 1, f: 1 }] },
      { op_type: 'Add', input: ['b', 'c'], output: ['d'], name: 'D' },
      { op_type: 'Relu', input: ['x'], output: ['e'], name: 'E' },
      { op_type: 'Add', input: ['d', 'e'], output: ['y'], name: 'F' },
    ];
    const g = (ns: typeof nodes) => ({ name: 'g', node: ns, input: [vi('x', DataType.FLOAT, [2])], output: [vi('y')] });
    const m = loadModel(model(g(nodes)));
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
    expect(Buffer.compare(Buffer.from(saveModel(loadModel(saveModel(m)))), Buffer.from(saveModel(m)))).toBe(0);
    // F and D listed first: they move after their inputs, everything else keeps its place.
    const shuffled = loadModel(model(g([nodes[5], nodes[3], nodes[0], nodes[1], nodes[2], nodes[4]])));
    expect(shuffled.graph.nodes.map((n) => n.name)).toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
  });

  it('gives unnamed nodes names that do not collide with named ones', () => {
    const m = loadModel(relu({ node: [
      { op_type: 'Relu', input: ['x'], output: ['t'] },
      { op_type: 'Neg', input: ['t'], output: ['y'], name: 'Relu_0' },
    ] }));
    const names = m.graph.nodes.map((n) => n.name);
    expect(names[1]).toBe('Relu_0');
    expect(new Set(names).size).toBe(2);
    expectStableRoundTrip(m);
  });

  it('round-trips a builder model byte for byte, and it still runs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 4]);
    const w = b.initializer('w', f32([4, 3], Float32Array.from({ length: 12 }, (_, i) => i / 7)));
    const h = b.reshape(b.matmul(x, w), [-1, 3]); // a Constant shape node in the middle of the graph
    b.output(b.softmax(h), 'p');
    const bytes = saveModel(b.build());
    expect(Buffer.compare(Buffer.from(saveModel(loadModel(bytes))), Buffer.from(bytes))).toBe(0);
    const out = await runModel(loadModel(bytes), { x: new ort.Tensor('float32', new Float32Array(8).fill(1), [2, 4]) });
    expect(out.p.dims).toEqual([2, 3]);
  });
});

describe('malformed models each fail with their own OnnxError', () => {
  let dir: string;
  let realModel: Uint8Array;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'onnx-io-'));
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 64]);
    const w = b.initializer('w', f32([64, 64], new Float32Array(64 * 64).fill(0.5)));
    b.output(b.relu(b.matmul(x, w)), 'y');
    realModel = saveModel(b.build());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('empty bytes', () => {
    expectOnnxError(() => loadModel(new Uint8Array(0)), 'NOT_ONNX', /empty \(0 bytes\)/);
  });

  it('random bytes and text are not protobuf', () => {
    let s = 12345;
    const random = Uint8Array.from({ length: 1000 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24));
    expectOnnxError(() => loadModel(random), 'NOT_ONNX', /not an ONNX model: protobuf field \d+ \(wire type \d\) at offset 0/);
    expectOnnxError(() => loadModel(new TextEncoder().encode('{"not": "a model"}\n')), 'NOT_ONNX', /not an ONNX model/);
  });

  it('a truncated file (a real model cut in half)', () => {
    expectOnnxError(() => loadModel(realModel.subarray(0, realModel.length >> 1)), 'TRUNCATED', /ends early \(truncated file\?\): graph at offset \d+ needs \d+ bytes/);
    expectOnnxError(() => loadModel(realModel.subarray(0, realModel.length - 1)), 'TRUNCATED', /ends early/);
  });

  it('valid protobuf that is not an ONNX model', () => {
    const tensorBytes = TensorProto.encode(TensorProto.fromObject({ dims: [2], data_type: 1, float_data: [1, 2], name: 'x' })).finish();
    expectOnnxError(() => loadModel(tensorBytes), 'NOT_ONNX', /not part of an ONNX ModelProto/);
    expectOnnxError(() => loadModel(encode({ ir_version: 8, producer_name: 'no graph here' })), 'NO_GRAPH', /has no graph/);
    expectOnnxError(() => loadModel(encode({ producer_name: 'x', graph: { name: 'g' } })), 'NOT_ONNX', /no ir_version/);
  });

  it('unsupported tensor data types', () => {
    const init = (data_type: number) => relu({ initializer: [{ name: 'w', dims: [2], data_type, raw_data: new Uint8Array(8) }] });
    expectOnnxError(() => loadModel(init(99)), 'UNKNOWN_DTYPE', /tensor "w" has unsupported data type data_type 99 \(not an ONNX type\); supported: float32/);
    expectOnnxError(() => loadModel(init(DataType.STRING)), 'UNKNOWN_DTYPE', /unsupported data type STRING/);
    expectOnnxError(() => loadModel(init(14)), 'UNKNOWN_DTYPE', /unsupported data type COMPLEX64/);
    expectOnnxError(() => loadModel(init(16)), 'UNKNOWN_DTYPE', /unsupported data type BFLOAT16/);
  });

  it('raw_data whose size does not match the dims', () => {
    const init = (raw: number) => relu({ initializer: [{ name: 'w', dims: [3], data_type: DataType.FLOAT, raw_data: new Uint8Array(raw) }] });
    expectOnnxError(() => loadModel(init(8)), 'BAD_TENSOR', /tensor "w": dims \[3\] need 3 values, the data holds 2/);
    expectOnnxError(() => loadModel(init(7)), 'BAD_TENSOR', /raw_data has 7 bytes, not a multiple of 4/);
  });

  it('a typed field whose count does not match the dims', () => {
    expectOnnxError(() => loadModel(relu({ initializer: [{ name: 'w', dims: [2, 2], data_type: DataType.FLOAT, float_data: [1, 2, 3] }] })), 'BAD_TENSOR', /dims \[2,2\] need 4 values, the file holds 3/);
    expectOnnxError(() => loadModel(relu({ initializer: [{ name: 'i', dims: [3], data_type: DataType.INT64, int64_data: [1] }] })), 'BAD_TENSOR', /need 3 values, the file holds 1/);
    expectOnnxError(() => loadModel(relu({ initializer: [{ name: 'n', dims: [-1], data_type: DataType.FLOAT }] })), 'BAD_TENSOR', /invalid dims \[-1\]/);
  });

  it('a node input nothing provides', () => {
    expectOnnxError(() => loadModel(relu({ node: [{ op_type: 'Add', input: ['x', 'nope'], output: ['y'], name: 'a' }] })), 'DANGLING_INPUT', /node "a" \(Add\) reads "nope", which no node, input or initializer provides/);
  });

  it('a subgraph reading a name no scope provides', () => {
    expectOnnxError(() => loadModel(relu({ node: [{ op_type: 'If', input: ['x'], output: ['y'], name: 'if', attribute: [
      { name: 'then_branch', type: 5, g: { name: 't', node: [{ op_type: 'Identity', input: ['ghost'], output: ['o'], name: 'ti' }], output: [vi('o')] } },
    ] }] })), 'DANGLING_INPUT', /node "ti" \(Identity\) reads "ghost"/);
  });

  it('a graph output nothing produces', () => {
    expectOnnxError(() => loadModel(relu({ output: [vi('z')] })), 'DANGLING_INPUT', /graph output "z" is not produced by any node, input or initializer/);
  });

  it('two producers of one value', () => {
    expectOnnxError(() => loadModel(relu({ node: [
      { op_type: 'Relu', input: ['x'], output: ['y'], name: 'a' },
      { op_type: 'Neg', input: ['x'], output: ['y'], name: 'b' },
    ] })), 'DUPLICATE_NAME', /value "y" is produced twice: by node "a" \(Relu\) and by node "b" \(Neg\)/);
    expectOnnxError(() => loadModel(relu({ initializer: [
      { name: 'w', dims: [1], data_type: 1, float_data: [1] }, { name: 'w', dims: [1], data_type: 1, float_data: [2] },
    ] })), 'DUPLICATE_NAME', /initializer "w" is defined twice/);
  });

  it('two nodes with one name', () => {
    expectOnnxError(() => loadModel(relu({ node: [
      { op_type: 'Relu', input: ['x'], output: ['t'], name: 'a' },
      { op_type: 'Neg', input: ['t'], output: ['y'], name: 'a' },
    ] })), 'DUPLICATE_NAME', /two nodes are named "a"/);
  });

  it('a cycle, naming the nodes on it', () => {
    const e = expectOnnxError(() => loadModel(relu({ node: [
      { op_type: 'Add', input: ['x', 'u'], output: ['t'], name: 'a' },
      { op_type: 'Neg', input: ['t'], output: ['u'], name: 'b' },
      { op_type: 'Relu', input: ['t'], output: ['y'], name: 'c' },
    ] })), 'CYCLE', /the graph has a cycle: "(a|b)" .* -> "(a|b)" .* -> "(a|b)"/);
    expect(e.message).not.toContain('"c"');
    expectOnnxError(() => loadModel(relu({ node: [{ op_type: 'Add', input: ['x', 'y'], output: ['y'], name: 's' }] })), 'CYCLE', /node "s" \(Add\) reads its own output "y"/);
  });

  it('absurd sizes: element count, rank, model bytes', () => {
    expectOnnxError(() => loadModel(relu({ initializer: [{ name: 'w', dims: [1e6, 1e6, 1e6], data_type: 1 }] })), 'TOO_LARGE', /tensor "w" has 1000000000000000000 elements .* over the limit/);
    expectOnnxError(() => loadModel(relu({ initializer: [{ name: 'w', dims: ['9223372036854775807'], data_type: 1 }] })), 'TOO_LARGE', /beyond the safe range/);
    expectOnnxError(() => loadModel(relu({ initializer: [{ name: 'w', dims: Array(100).fill(1), data_type: 1, float_data: [1] }] })), 'TOO_LARGE', /tensor "w" has rank 100, over the limit of 16/);
    expectOnnxError(() => loadModel(relu({ input: [vi('x', DataType.FLOAT, Array(100).fill(1))] })), 'TOO_LARGE', /value "x" has rank 100/);
    expectOnnxError(() => loadModel(realModel, { limits: { maxModelBytes: 1000 } }), 'TOO_LARGE', new RegExp(`the model is ${realModel.length} bytes, over the limit of 1000`));
    const p = join(dir, 'big.onnx');
    writeFileSync(p, realModel);
    expectOnnxError(() => loadModelFile(p, { limits: { maxModelBytes: 1000 } }), 'TOO_LARGE', /big\.onnx is \d+ bytes, over the limit of 1000/);
    expectOnnxError(() => loadModel(realModel, { limits: { maxTensorElements: 100 } }), 'TOO_LARGE', /tensor "w" has 4096 elements/);
  });

  it('model files that cannot be read', () => {
    expectOnnxError(() => loadModelFile(join(dir, 'missing.onnx')), 'IO', /cannot read model .*missing\.onnx: ENOENT/);
    expectOnnxError(() => loadModelFile(dir), 'IO', /not a file/);
  });

  describe('external data', () => {
    let mdir: string;
    const ext = (kv: Record<string, string>) => model({
      name: 'g', node: [{ op_type: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }],
      input: [vi('x', DataType.FLOAT, [2])], output: [vi('y', DataType.FLOAT, [2])],
      initializer: [{ name: 'w', dims: [2], data_type: DataType.FLOAT, data_location: 1, external_data: Object.entries(kv).map(([key, value]) => ({ key, value })) }],
    });
    const at = (file: string, kv: Record<string, string>): string => {
      const p = join(mdir, file);
      writeFileSync(p, ext(kv));
      return p;
    };
    beforeAll(() => {
      mdir = join(dir, 'model');
      mkdirSync(join(mdir, 'weights'), { recursive: true });
      writeFileSync(join(dir, 'outside.bin'), new Uint8Array(8));
      // Two tensors' worth of data in one shared file, as exporters write it.
      writeFileSync(join(mdir, 'weights', 'data.bin'), bytesOf(Float32Array.of(9, 9, 1.5, -2)));
      symlinkSync(join(dir, 'outside.bin'), join(mdir, 'escape.bin'));
      symlinkSync(join(mdir, 'weights', 'data.bin'), join(mdir, 'inside.bin'));
    });

    it('loads a correct external-data model (offset into a shared file, symlink inside the folder)', async () => {
      const m = loadModelFile(at('good.onnx', { location: 'weights/data.bin', offset: '8', length: '8' }));
      expect(Array.from(m.graph.initializers.get('w')!.data as Float32Array)).toEqual([1.5, -2]);
      const viaLink = loadModelFile(at('link.onnx', { location: 'inside.bin', offset: '8' }));
      expect(Array.from(viaLink.graph.initializers.get('w')!.data as Float32Array)).toEqual([1.5, -2]);
      const out = await runModel(m, { x: new ort.Tensor('float32', Float32Array.of(1, 1), [2]) });
      expect(Array.from(out.y.data as Float32Array)).toEqual([2.5, -1]);
      // Saving inlines the data: the result loads from bytes alone.
      expect(loadModel(saveModel(m)).graph.initializers.get('w')!.data).toEqual(Float32Array.of(1.5, -2));
    });
    it('refuses a FIFO as external data or as the model at once (never waits on it)', () => {
      execFileSync('mkfifo', [join(mdir, 'fifo.bin')]);
      expectOnnxError(() => loadModelFile(at('fifo.onnx', { location: 'fifo.bin' })), 'EXTERNAL_DATA', /location "fifo\.bin" is not a file \(a folder, FIFO or device\)/);
      expectOnnxError(() => loadModelFile(join(mdir, 'fifo.bin')), 'IO', /not a file/);
    });
    it('refuses an absolute path', () => {
      expectOnnxError(() => loadModelFile(at('abs.onnx', { location: join(dir, 'outside.bin') })), 'EXTERNAL_DATA', /location ".*outside\.bin" is outside the model's folder; refused/);
    });
    it('refuses ..', () => {
      expectOnnxError(() => loadModelFile(at('dotdot.onnx', { location: 'weights/../../outside.bin' })), 'EXTERNAL_DATA', /is outside the model's folder; refused/);
    });
    it('refuses a symlink that escapes the folder', () => {
      expectOnnxError(() => loadModelFile(at('escape.onnx', { location: 'escape.bin' })), 'EXTERNAL_DATA', /"escape\.bin" resolves outside the model's folder \(symlink\?\); refused/);
    });
    it('a missing data file', () => {
      expectOnnxError(() => loadModelFile(at('missing.onnx', { location: 'nope.bin' })), 'EXTERNAL_DATA', /external data file "nope\.bin" not found next to the model/);
    });
    it('a data file too short', () => {
      expectOnnxError(() => loadModelFile(at('short.onnx', { location: 'weights/data.bin', offset: '12' })), 'EXTERNAL_DATA', /"weights\/data\.bin" is 16 bytes, too short for offset 12 \+ length 8/);
    });
    it('a length that disagrees with the dims, a folder as location, no location, bytes without a folder', () => {
      expectOnnxError(() => loadModelFile(at('len.onnx', { location: 'weights/data.bin', length: '4' })), 'EXTERNAL_DATA', /length 4 does not match the 8 bytes its dims need/);
      expectOnnxError(() => loadModelFile(at('dir.onnx', { location: 'weights' })), 'EXTERNAL_DATA', /"weights" is not a file/);
      expectOnnxError(() => loadModelFile(at('noloc.onnx', {})), 'EXTERNAL_DATA', /names no location/);
      expectOnnxError(() => loadModel(ext({ location: 'weights/data.bin' })), 'EXTERNAL_DATA', /load the model from a file/);
    });
  });

  it('corrupted bytes never escape as anything but an OnnxError', () => {
    let s = 99;
    const r = () => (s = (s * 1103515245 + 12345) >>> 0);
    const seen = new Set<string>();
    for (let k = 0; k < 3000; k++) {
      const m = realModel.slice(0, 400 + (r() % 200)); // header, graph structure, part of the weights
      const whole = new Uint8Array(realModel);
      const target = k % 2 ? whole : m;
      for (let j = 0, n = 1 + (r() % 4); j < n; j++) target[r() % Math.min(target.length, 600)] = r() >>> 24;
      try {
        loadModel(target);
        seen.add('ok');
      } catch (e) {
        if (!(e instanceof OnnxError)) throw new Error(`iteration ${k}: ${(e as Error).stack}`);
        seen.add(e.code);
      }
    }
    expect(seen.size).toBeGreaterThan(2);
  });
});

describe('shape inference over a dynamic batch (exporter shape subgraphs)', () => {
  it('Shape -> Gather/Slice -> Concat resolves Reshape and Expand targets with the symbolic batch kept', () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['batch', 16, 4, 4]);
    // torch's x.view(x.size(0), -1)
    const n = b.unsqueeze(b.op('Gather', [b.shapeOf(x), b.constI64(0, [])], { axis: 0 }), [0]);
    const flat = b.op('Reshape', [x, b.op('Concat', [n, b.constI64([-1])], { axis: 0 })]);
    // cls_token.expand(x.shape[0], -1, -1) written with an explicit target
    const batch = b.op('Slice', [b.shapeOf(x), b.constI64([0]), b.constI64([1])]);
    const cls = b.initializer('cls', tensor('', DataType.FLOAT, [1, 1, 8], new Array(8).fill(0)));
    const expanded = b.op('Expand', [cls, b.op('Concat', [batch, b.constI64([1, 8])], { axis: 0 })]);
    // x.reshape(batch, 16, -1)
    const tokens = b.op('Reshape', [x, b.op('Concat', [n, b.constI64([16, -1])], { axis: 0 })]);
    for (const [v, name] of [[flat, 'flat'], [expanded, 'expanded'], [tokens, 'tokens']] as const) b.output(v, name);
    const facts = inferShapes(b.build().graph, 17);
    expect(facts.get(flat)!.shape).toEqual(['batch', 256]);
    expect(facts.get(expanded)!.shape).toEqual(['batch', 1, 8]);
    expect(facts.get(tokens)!.shape).toEqual(['batch', 16, 16]);
    expect(facts.get(n)!.dims).toEqual(['batch']);
  });
});
