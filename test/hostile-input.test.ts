// Hostile input gets one clear, typed message: window attributes that make no sense (strides or
// dilations 0, negative pads, a group that does not divide the channels, a kernel larger than its
// input), output folders that cannot be made (under a file, under /proc), run names that are not
// one folder name.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildArtifacts } from '../src/artifacts/build.js';
import { resolveConfig } from '../src/config/index.js';
import { GraphBuilder, f32 } from '../src/onnx/builder.js';
import { OnnxError } from '../src/onnx/errors.js';
import { DataType } from '../src/onnx/ir.js';
import { TrainError } from '../src/train/errors.js';
import { train } from '../src/train/trainer.js';
import { evaluateRobustness } from '../src/attacks/evaluate.js';
import { AttackModelError } from '../src/attacks/model.js';
import { OrtError } from '../src/runtime/ort-error.js';
import { saveModelFile } from '../src/onnx/save.js';
import { main } from '../src/cli/main.js';

/** Conv (3x3, `cout` filters of `wcin` channels) on a 1x8x8 image, pooled, then a 10-class Gemm. */
function convModel(attrs: Record<string, number[] | number>, cout = 4, wcin = 1) {
  const b = new GraphBuilder({ opset: 17 });
  let x = b.input('input', DataType.FLOAT, ['N', 1, 8, 8]);
  x = b.node('Conv', [x, b.initializer('W', f32([cout, wcin, 3, 3], new Array(cout * wcin * 9).fill(0.01)))], attrs)[0];
  x = b.op('Flatten', [b.op('GlobalAveragePool', [x])], { axis: 1 });
  b.output(b.op('Gemm', [x, b.initializer('G', f32([cout, 10], new Array(cout * 10).fill(0.01)))]), 'logits');
  return b.build();
}

/** Flatten -> Relu (or `op`, with `attrs`) -> Gemm to 10 classes, on 1x4x4 images; `w` fills the Gemm weight. */
function mlp(op = 'Relu', attrs: Record<string, number> = {}, w = 0.01) {
  const b = new GraphBuilder({ opset: 17 });
  let x = b.op('Flatten', [b.input('input', DataType.FLOAT, ['N', 1, 4, 4])], { axis: 1 });
  x = b.node(op, [x], attrs, { name: 'act' })[0];
  b.output(b.op('Gemm', [x, b.initializer('W', f32([16, 10], new Array(160).fill(w)))]), 'logits');
  return b.build();
}
const images = { images: new Float32Array(4 * 16).fill(0.5), labels: [0, 1, 2, 3], shape: [1, 4, 4] };

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') });
  return { code, out, err };
}

describe('hostile input', () => {
  it('ORT refusing a model is one typed error naming the model and the node, with what to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gen-ort-'));
    const relq = join(dir, 'relq.onnx');
    saveModelFile(mlp('Relq'), relq);
    let err: unknown;
    try { await evaluateRobustness(relq, images, { eps: 0.1, attacks: 'fgsm' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(OrtError);
    expect((err as Error).message).toMatch(/ONNX Runtime cannot load .*relq\.onnx at node "[^"]*act[^"]*" \(Relq\): .*What to do: /);
    const r = await cli('eval', '--model', relq, '--dataset', 'mnist', '--eps', '0.1', '--n', '4', '--attacks', 'fgsm');
    expect(r.code).toBe(1);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    // inspect says "trainable: no" for what ORT refuses, though every op has a gradient rule.
    const attr = join(dir, 'attr.onnx');
    saveModelFile(mlp('Relu', { not_an_attribute: 1 }), attr);
    const i = await cli('inspect', attr);
    expect(i.out).toMatch(/gradients: every op has a gradient rule/);
    expect(i.out).toMatch(/trainable: no \(ONNX Runtime cannot load .*attr\.onnx/);
  });

  it('an output declared with 7 classes where the Gemm computes 10 is named, in inspect and in training', async () => {
    const m = mlp();
    m.graph.outputs[0] = { ...m.graph.outputs[0], shape: ['N', 7] };
    const path = join(mkdtempSync(join(tmpdir(), 'gen-7-')), 'seven.onnx');
    saveModelFile(m, path);
    const i = await cli('inspect', path);
    expect(i.out).toMatch(/trainable: no \(its output "logits" is declared with 7 classes, but the graph computes 10/);
  });

  it('NaN weights are named as NaN outputs, not as a broken attack invariant', async () => {
    let err: unknown;
    try { await evaluateRobustness(mlp('Relu', {}, NaN), images, { eps: 0.1, attacks: 'pgd5' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(AttackModelError);
    expect((err as Error).message).toMatch(/outputs NaN logits for image 0 of the batch: its weights hold NaN\/Inf/);
  });

  it('refuses nonsensical Conv attributes with the node and the attribute named', () => {
    const cases: [Record<string, number[] | number>, RegExp][] = [
      [{ strides: [0, 0] }, /strides \[0, 0\] must hold 2 integers >= 1/],
      [{ strides: [1] }, /strides \[1\] must hold 2 integers/],
      [{ dilations: [0, 1] }, /dilations \[0, 1\] must hold 2 integers >= 1/],
      [{ pads: [-1, 0, 0, 0] }, /pads \[-1, 0, 0, 0\] must hold 4 integers >= 0/],
      [{ group: 3 }, /the input has 1 channels, but the weight's 1 input channels x group 3 make 3/],
      [{ group: 0 }, /group 0 must be an integer >= 1/],
      [{ dilations: [5, 5] }, /the input is too small: the kernel \(11 wide with dilation\) is larger than the padded input \(8\)/],
    ];
    for (const [attrs, re] of cases) {
      let err: unknown;
      try { buildArtifacts(convModel(attrs)); } catch (e) { err = e; }
      expect(err, JSON.stringify(attrs)).toBeInstanceOf(OnnxError);
      expect((err as Error).message, JSON.stringify(attrs)).toMatch(/node "[^"]+" \(Conv\): /);
      expect((err as Error).message, JSON.stringify(attrs)).toMatch(re);
    }
  });

  it('refuses output folders that cannot be made, up front and with the path, without hanging', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gen-hostile-'));
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cfg = (outDir: string) => resolveConfig({ preset: 'mnist-smallcnn', overrides: { outDir, 'dataset.trainSubset': '64' } });
    await expect(train(cfg(join(file, 'x')), { sink: null })).rejects.toThrow(/output folder: cannot use .*a-file\/x: .*a-file is not a folder/);
    await expect(train(cfg('/proc/forbidden/x'), { sink: null })).rejects.toThrow(TrainError);
    await expect(train(cfg('/proc/forbidden/x'), { sink: null })).rejects.toThrow(/cannot create \/proc\/forbidden/);
  });

  it('run names are one folder name', () => {
    for (const name of ['..', '.', 'a/b', '../x']) expect(() => resolveConfig({ overrides: { name } }), name).toThrow(/name/);
    expect(resolveConfig({ overrides: { name: 'a.b_c-1' } }).name).toBe('a.b_c-1');
  });
});
