// What trains, chosen explicitly: `model.trainable` / `model.frozen` name patterns (like ORT's
// requires_grad / frozen_params), `inspect` giving the reason for each frozen tensor, and `train`
// saying in one line when a large float initializer stays frozen.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeModel, largeFrozenNote } from '../src/artifacts/analyze.js';
import { buildArtifacts } from '../src/artifacts/build.js';
import { normalizeImport } from '../src/artifacts/import.js';
import { withInputNormalization } from '../src/artifacts/normalize.js';
import { globRegExp, trainingChoice, withTrainingChoice } from '../src/artifacts/trainable.js';
import { main } from '../src/cli/main.js';
import { resolveConfig, ConfigError } from '../src/config/index.js';
import { saveModelFile } from '../src/onnx/save.js';
import { loadModelFile } from '../src/onnx/load.js';
import { train } from '../src/train/trainer.js';
import { buildZooModel } from '../src/zoo/index.js';

const DIR = join(import.meta.dirname, 'fixtures', 'zoo');
const convnext = () => normalizeImport(loadModelFile(join(DIR, 'convnext_fresh_op17.onnx')));
const smallcnn = () => buildZooModel('smallcnn', { seed: 1 });

describe('explicit control of what trains', () => {
  it('globs match whole names; `*` any run, `?` one character, dots literal', () => {
    expect(globRegExp('layer1.*').test('layer1.0.conv1.weight')).toBe(true);
    expect(globRegExp('layer1.*').test('xlayer1.0')).toBe(false);
    expect(globRegExp('fc.weigh?').test('fc.weight')).toBe(true);
    expect(globRegExp('fc.weight').test('fcXweight')).toBe(false);
  });

  it('model.frozen keeps what it matches fixed, with the pattern as the reason', () => {
    const m = withTrainingChoice(convnext(), { trainable: [], frozen: ['features.0.*', 'classifier.2.weight'] });
    expect(trainingChoice(m).frozen).toEqual(['features.0.*', 'classifier.2.weight']);
    const a = analyzeModel(m);
    const names = a.params.map((p) => p.name);
    expect(names).not.toContain('features.0.0.weight');
    expect(names).not.toContain('classifier.2.weight');
    expect(names).toContain('classifier.2.bias');
    expect(a.frozen.find((t) => t.name === 'features.0.0.weight')).toEqual({ name: 'features.0.0.weight', elements: 768, reason: 'model.frozen "features.0.*"' });
    // The artifacts bake the frozen tensors in as constants.
    const built = buildArtifacts(m, { pgdSteps: 1 });
    expect(built.manifest.params.map((p) => p.name)).toEqual(names);
    expect(built.models.train_step.graph.initializers.has('classifier.2.weight')).toBe(true);
  });

  it('model.trainable names exactly what trains', () => {
    const a = analyzeModel(withTrainingChoice(convnext(), { trainable: ['classifier.*'], frozen: ['classifier.0.*'] }));
    expect(a.params.map((p) => p.name)).toEqual(['classifier.2.weight', 'classifier.2.bias']);
    expect(a.frozen.find((t) => t.name === 'classifier.0.weight')!.reason).toBe('model.frozen "classifier.0.*"');
    expect(a.frozen.find((t) => t.name === 'features.1.0.block.3.weight')!.reason).toBe('matches no model.trainable pattern');
  });

  it('a pattern that matches nothing is an error naming the field (untied names count)', () => {
    expect(() => withTrainingChoice(convnext(), { trainable: [], frozen: ['feature.0.*'] })).toThrow(/model\.frozen: the pattern "feature\.0\.\*" matches no float initializer/);
    const resnet = loadModelFile(join(DIR, 'resnet_fresh_op17.onnx'));
    // layer1.1.bn2.weight exists only as an Identity output before the untie.
    expect(resnet.graph.initializers.has('layer1.1.bn2.weight')).toBe(false);
    expect(analyzeModel(normalizeImport(withTrainingChoice(resnet, { trainable: [], frozen: ['layer1.1.bn2.weight'] }))).params.map((p) => p.name)).not.toContain('layer1.1.bn2.weight');
  });

  it('the config takes the patterns as JSON or comma-separated lists, and validates them', () => {
    const c = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'model.frozen': 'conv1.*, fc.*', 'model.trainable': '["a.*"]' } });
    expect(c.model.frozen).toEqual(['conv1.*', 'fc.*']);
    expect(c.model.trainable).toEqual(['a.*']);
    expect(resolveConfig({ preset: 'mnist-smallcnn' }).model.frozen).toEqual([]);
    expect(() => resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'model.frozen': '[1]' } })).toThrow(ConfigError);
  });

  it('inspect lists each frozen float tensor with its reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gen-frozen-'));
    const path = join(dir, 'normalised.onnx');
    saveModelFile(withInputNormalization(smallcnn(), { mean: [0.1307], std: [0.3081] }), path);
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t) };
    expect(await main(['inspect', path], io)).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('2 float initializers frozen (listed below)');
    expect(text).toMatch(/frozen \(kept at their values in training\):\n\s+input_normalization\/mean\s+1\s+a scalar\n\s+input_normalization\/std\s+1\s+a scalar/);
    out.length = 0;
    expect(await main(['inspect', path, '--json'], io)).toBe(0);
    expect((JSON.parse(out.join('\n')) as { frozen: unknown[] }).frozen).toEqual([
      { name: 'input_normalization/mean', elements: 1, reason: 'a scalar' },
      { name: 'input_normalization/std', elements: 1, reason: 'a scalar' },
    ]);
  });

  it('a large frozen float initializer is named in one line; small constants are not', () => {
    expect(largeFrozenNote(smallcnn())).toBeNull();
    expect(largeFrozenNote(withInputNormalization(smallcnn(), { mean: [0.5], std: [0.25] }))).toBeNull();
    const note = largeFrozenNote(withTrainingChoice(smallcnn(), { trainable: [], frozen: ['classifier.fc1.weight'] }))!;
    expect(note.split('\n')).toHaveLength(1);
    expect(note).toContain('1 float initializer of more than 1k elements stays frozen: classifier.fc1.weight (204800 elements: model.frozen "classifier.fc1.weight")');
  });

  it('train says so, and the frozen tensor keeps its value through training', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'gen-frozen-run-'));
    const cfg = resolveConfig({
      preset: 'mnist-smallcnn',
      overrides: {
        name: 'frozen', outDir, threads: '1', method: 'natural', epochs: '1', batchSize: '64', 'dataset.trainSubset': '256',
        'dataset.validation': '64', 'dataset.testSubset': '64', 'eval.pgdSteps': '1', 'eval.n': '32', 'eval.finalN': '64',
        'model.frozen': 'feature_extractor.conv2.weight',
      },
    });
    const lines: string[] = [];
    const r = await train(cfg, { sink: { write: (s: string) => void lines.push(s) }, cacheDir: join(outDir, 'cache') });
    expect(lines.join('').split('\n').filter((l) => l.includes('stays frozen'))).toEqual([
      '1 float initializer of more than 1k elements stays frozen: feature_extractor.conv2.weight (9216 elements: model.frozen "feature_extractor.conv2.weight"); set model.trainable or model.frozen to choose, `generalist inspect` lists every frozen tensor',
    ]);
    const initial = loadModelFile(join(outDir, 'source.onnx')).graph.initializers;
    const exported = loadModelFile(r.modelPath!).graph.initializers;
    expect(exported.get('feature_extractor.conv2.weight')!.data).toEqual(initial.get('feature_extractor.conv2.weight')!.data);
    expect(exported.get('feature_extractor.conv3.weight')!.data).not.toEqual(initial.get('feature_extractor.conv3.weight')!.data);
  });
});
