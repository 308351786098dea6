// The `generalist` CLI, run in-process through main(argv, io) (plus one spawn of the real bin).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, main } from '../src/cli/main.js';
import type { Command } from '../src/cli/command.js';
import { ModelProto } from '../src/onnx/schema.js';
import { DataType, OnnxError, countParameters, loadModelFile } from '../src/index.js';
import { ort, runModel } from '../src/runtime/ort.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

// A classifier this project did not write: raw protobuf, exporter-style flatten
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), an Einsum, and a CumSum we have no gradient rule for.
const vi = (name: string, elem: DataType, dims: (number | string)[]) => ({
  name, type: { tensor_type: { elem_type: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
});
const f32 = (name: string, dims: number[]) => ({ name, dims, data_type: DataType.FLOAT, float_data: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => ((i % 7) - 3) / 10) });
const i64 = (name: string, values: number[], dims = [values.length]) => ({ name, dims, data_type: DataType.INT64, int64_data: values });
function foreignModel(): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject({
    ir_version: 7,
    producer_name: 'pytorch',
    producer_version: '1.13.1',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'torch_jit',
      input: [vi('images', DataType.FLOAT, ['batch', 2, 3])],
      output: [vi('scores', DataType.FLOAT, ['batch', 5])],
      initializer: [f32('W', [3, 4]), f32('fc.weight', [8, 5]), f32('fc.bias', [5]), i64('zero', [0], []), i64('axes0', [0]), i64('minus1', [-1]), i64('cum_axis', [2], [])],
      node: [
        { op_type: 'Einsum', input: ['images', 'W'], output: ['mixed'], name: '/Einsum', attribute: [{ name: 'equation', type: 3, s: new TextEncoder().encode('bij,jk->bik') }] },
        { op_type: 'CumSum', input: ['mixed', 'cum_axis'], output: ['cum'], name: '/CumSum' },
        { op_type: 'Shape', input: ['cum'], output: ['shape'], name: '/Shape' },
        { op_type: 'Gather', input: ['shape', 'zero'], output: ['n'], name: '/Gather', attribute: [{ name: 'axis', type: 2, i: 0 }] },
        { op_type: 'Unsqueeze', input: ['n', 'axes0'], output: ['n1'], name: '/Unsqueeze' },
        { op_type: 'Concat', input: ['n1', 'minus1'], output: ['flat_shape'], name: '/Concat', attribute: [{ name: 'axis', type: 2, i: 0 }] },
        { op_type: 'Reshape', input: ['cum', 'flat_shape'], output: ['flat'], name: '/Reshape' },
        { op_type: 'MatMul', input: ['flat', 'fc.weight'], output: ['mm'], name: '/fc/MatMul' },
        { op_type: 'Add', input: ['mm', 'fc.bias'], output: ['scores'], name: '/fc/Add' },
      ],
    },
  })).finish();
}

describe('generalist CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help lists the commands; every command has --help', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    for (const c of COMMANDS) expect(top.out).toContain(c.name);
    expect(top.out).toMatch(/models .*\n.*export-model .*\n.*inspect /);
    for (const name of ['models', 'export-model', 'inspect']) {
      const r = await cli(name, '--help');
      expect(r.code, name).toBe(0);
      expect(r.out).toContain(`Usage: generalist ${name}`);
      expect((await cli('help', name)).out).toBe(r.out);
    }
    expect((await cli('inspect', '-h')).out).toContain('--json');
  });

  it('bad usage is a clear error and exit code 2', async () => {
    const none = await cli();
    expect([none.code, none.err]).toEqual([2, expect.stringContaining('Usage: generalist <command>')]);
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('error: unknown command "frobnicate"; commands: models, export-model, inspect');
    const flag = await cli('models', '--frob');
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/error: Unknown option '--frob'[^\n]*\nRun 'generalist models --help' for usage/);
    expect((await cli('--frob')).code).toBe(2);
    const noName = await cli('export-model', '-o', join(dir, 'x.onnx'));
    expect([noName.code, noName.err]).toEqual([2, expect.stringContaining('missing the model name')]);
    const badName = await cli('export-model', 'nosuch', '-o', join(dir, 'x.onnx'));
    expect([badName.code, badName.err]).toEqual([2, expect.stringContaining('unknown model "nosuch"; available: smallcnn')]);
    const noOut = await cli('export-model', 'smallcnn');
    expect([noOut.code, noOut.err]).toEqual([2, expect.stringContaining('missing -o <file.onnx>')]);
    const badInt = await cli('export-model', 'smallcnn', '-o', join(dir, 'x.onnx'), '--classes', 'ten');
    expect([badInt.code, badInt.err]).toEqual([2, expect.stringContaining('--classes needs an integer, got "ten"')]);
    const extra = await cli('inspect', 'a.onnx', 'b.onnx');
    expect([extra.code, extra.err]).toEqual([2, expect.stringContaining('unexpected argument: b.onnx')]);
  });

  it('models lists the zoo with parameter counts', async () => {
    const r = await cli('models');
    expect(r.code).toBe(0);
    const line = r.out.split('\n').find((l) => l.startsWith('smallcnn'));
    expect(line).toMatch(/^smallcnn\s+1x28x28\s+10\s+312202\s+MNIST/);
    expect(r.out).toMatch(/wrn-34-10\s+3x32x32\s+10\s+46160474/);
  });

  it('export-model writes a loadable model; --seed and --classes apply', async () => {
    const a = join(dir, 'smallcnn.onnx');
    const r = await cli('export-model', 'smallcnn', '-o', a);
    expect(r.code).toBe(0);
    expect(r.out).toContain('312,202 parameters');
    const m = loadModelFile(a);
    expect(countParameters(m)).toBe(312202);
    expect(m.graph.inputs[0].shape).toEqual(['N', 1, 28, 28]);

    const b = join(dir, 'smallcnn-3.onnx');
    expect((await cli('export-model', 'smallcnn', '--output', b, '--seed', '7', '--classes', '3')).code).toBe(0);
    const m3 = loadModelFile(b);
    expect(m3.graph.outputs[0].shape).toEqual(['N', 3]);
    const out = await runModel(m3, { input: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]) });
    expect(out.logits.dims).toEqual([2, 3]);
    const w = (mm: typeof m) => [...mm.graph.initializers.values()][0].data;
    expect(w(m3)).not.toEqual(w(m));
    // Same seed, same bytes.
    const c = join(dir, 'again.onnx');
    await cli('export-model', 'smallcnn', '-o', c);
    expect(readFileSync(c).equals(readFileSync(a))).toBe(true);

    const unwritable = await cli('export-model', 'smallcnn', '-o', join(dir, 'no', 'such', 'dir.onnx'));
    expect([unwritable.code, unwritable.err]).toEqual([1, expect.stringContaining('error: cannot write')]);
    expect(unwritable.err).not.toMatch(/\n\s+at /);
  });

  it('inspect describes a model it did not write and names the op it cannot differentiate', async () => {
    const bytes = foreignModel();
    const p = join(dir, 'foreign.onnx');
    writeFileSync(p, bytes);
    // It is a real model: ORT runs it.
    const run = await runModel(bytes, { images: new ort.Tensor('float32', new Float32Array(12).fill(1), [2, 2, 3]) });
    expect(run.scores.dims).toEqual([2, 5]);

    const r = await cli('inspect', p);
    expect(r.code).toBe(0);
    expect(r.out).toContain('opset: ai.onnx 13');
    expect(r.out).toContain('producer: pytorch 1.13.1');
    expect(r.out).toMatch(/images\s+float32\s+\[batch, 2, 3\]/);
    expect(r.out).toMatch(/scores\s+float32\s+\[batch, 5\]/);
    expect(r.out).toContain('parameters: 57 '); // 12 + 40 + 5 float elements; the int64 constants are not parameters
    expect(r.out).toContain('nodes: 9');
    for (const op of ['Einsum', 'CumSum', 'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Reshape', 'MatMul', 'Add']) expect(r.out).toMatch(new RegExp(`\\n  ${op}\\s+1`));
    expect(r.out).toMatch(/\n {2}CumSum\s+1\s+no gradient rule/);
    expect(r.out).not.toMatch(/\n {2}Einsum\s+1\s+no gradient rule/);
    expect(r.out).toMatch(/cannot differentiate yet \(no gradient rule\): [^\n]*CumSum/);
    expect(r.out).toMatch(/trainable: no \(no gradient rule for [^\n]*CumSum/);

    const j = await cli('inspect', p, '--json');
    expect(j.code).toBe(0);
    const report = JSON.parse(j.out);
    expect(report.inputs).toEqual([{ name: 'images', dtype: 'float32', shape: ['batch', 2, 3] }]);
    expect(report.ops).toMatchObject({ Einsum: 1, CumSum: 1, Shape: 1, Gather: 1, Unsqueeze: 1, Concat: 1, Reshape: 1, MatMul: 1, Add: 1 });
    expect(report.noGradientRule).toEqual(['CumSum']);
    expect(report.noGradientRule).not.toContain('MatMul');
    expect(report).toMatchObject({ irVersion: 7, parameters: 57, nodes: 9, opsetImports: [{ domain: '', version: 13 }] });
  });

  it('inspect on a garbage or missing file: a clear error, no stack, exit 1', async () => {
    const p = join(dir, 'garbage.onnx');
    writeFileSync(p, Buffer.from('this is not an onnx model, just some text\n'.repeat(20)));
    const r = await cli('inspect', p);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^error: not an ONNX model/);
    expect(r.err).not.toMatch(/\n\s+at /);
    const half = join(dir, 'half.onnx');
    const full = foreignModel();
    writeFileSync(half, full.subarray(0, full.length >> 1));
    expect((await cli('inspect', half)).err).toMatch(/^error: the model data ends early \(truncated file\?\)/);
    const missing = await cli('inspect', join(dir, 'missing.onnx'));
    expect([missing.code, missing.err]).toEqual([1, expect.stringMatching(/^error: cannot read model .*missing\.onnx/)]);
  });

  it('OnnxError prints just the message; an unexpected error prints its stack', async () => {
    const boom: Command = { name: 'boom', summary: '', usage: '', run: () => { throw new TypeError('kaput'); } };
    const onnx: Command = { name: 'onnx-fail', summary: '', usage: '', run: () => { throw new OnnxError('CYCLE', 'round and round'); } };
    COMMANDS.push(boom, onnx);
    try {
      const a = await cli('boom');
      expect(a.code).toBe(1);
      expect(a.err).toMatch(/^TypeError: kaput\n\s+at /);
      const b = await cli('onnx-fail');
      expect([b.code, b.err]).toEqual([1, 'error: round and round\n']);
    } finally {
      COMMANDS.splice(COMMANDS.indexOf(boom), 2);
    }
  });

  it('artifacts builds with every option at its default (flags not given mean the defaults)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-artifacts-'));
    try {
      const r = await cli('artifacts', 'smallcnn', '-o', dir);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/14 parameter tensors, 0 BN statistics, PGD-10 \(ce\), sgd, loss ce/);
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      expect(m.options).toMatchObject({ pgdSteps: 10, optimizer: 'sgd', loss: 'ce', attackForm: 'unrolled', inputLayout: 'nchw' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bin/generalist.mjs runs without a build step', () => {
    const r = spawnSync(join(ROOT, 'bin', 'generalist.mjs'), ['--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: generalist <command>');
    expect(r.stdout).toContain('export-model');
  });
});
