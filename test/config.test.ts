import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError, DEFAULT_CONFIG, attackStepAt, canonicalJson, configHash, emaDecay, emaMaxDecay, emaMemoryStart, epsAt, evalStepSize,
  knotValue, listConfigKeys, listPresets, parseOverrideArgs, parseOverrides, resolveConfig, shouldRedistribute,
  datasetLoadOptions, trainAugment, validateConfig, type Config, type PartialConfig,
} from '../src/config/index.js';
import { warnIdleEmaMemory } from '../src/train/run.js';

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'gen-config-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

function configError(f: () => unknown): ConfigError {
  try { f(); } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}
const withConfig = (config: unknown): ConfigError => configError(() => resolveConfig({ preset: 'mnist-smallcnn', config: config as PartialConfig }));

describe('presets', () => {
  it('each preset resolves to a valid config named after it', () => {
    const names = listPresets().map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['mnist-smallcnn', 'fashion-smallcnn', 'cifar10-resnet18', 'cifar10-preact18']));
    // harden fine-tunes the user's model: it resolves once model.source names one (and not before, test/harden.test.ts).
    const needs: Record<string, Record<string, string>> = { harden: { 'model.source': 'trained.onnx' } };
    for (const name of names) {
      const c = resolveConfig({ preset: name, overrides: needs[name] });
      expect(c.name).toBe(name);
      expect(c.outDir).toBe(`runs/${name}`);
      expect(() => validateConfig(c)).not.toThrow();
    }
    expect(() => validateConfig(DEFAULT_CONFIG)).not.toThrow();
  });
  it('carries the settings the presets promise', () => {
    const m = resolveConfig({ preset: 'mnist-smallcnn' });
    expect(m.attack.eps).toBe(0.3);
    expect(m.optim.robust.type).toBe('adam');
    expect(m.optim.robust.lr[0]).toEqual([0, 1e-3]);
    expect(m.attack.epsRampFraction).toBeGreaterThan(0);
    expect(resolveConfig({ preset: 'fashion-smallcnn' }).attack.eps).toBe(0.1);
    const c = resolveConfig({ preset: 'cifar10-resnet18' });
    expect(c.epochs).toBe(120);
    expect(c.optim.robust.weightDecay).toBe(3.5e-3);
    expect(c.optim.natural.weightDecay).toBe(5e-4);
    expect(c.optim.robust.momentum).toBe(0.9);
    // lr knots at epochs 0/40/80/120
    const lrAtEpoch = (e: number) => knotValue(c.optim.robust.lr, e / 120);
    expect(lrAtEpoch(0)).toBeCloseTo(0.01, 12);
    expect(lrAtEpoch(40)).toBeCloseTo(0.01, 12);
    expect(lrAtEpoch(80)).toBeCloseTo(0.001, 12);
    expect(lrAtEpoch(100)).toBeCloseTo(0.00055, 12);
    expect(lrAtEpoch(120)).toBeCloseTo(0.0001, 12);
    expect(knotValue(c.generalist.beta, 80 / 120)).toBeCloseTo(1, 12);
    expect(knotValue(c.generalist.beta, 1)).toBeCloseTo(0.4, 12);
    expect(c.attack.eps).toBeCloseTo(8 / 255, 12);
    expect(c.attack.stepSize).toBeCloseTo(2 / 255, 12);
    expect(emaMaxDecay(c, 46920)).toBeCloseTo(0.999, 12);
  });
  it('rejects an unknown preset with a suggestion', () => {
    expect(configError(() => resolveConfig({ preset: 'mnist-smallcn' })).message).toMatch(/unknown preset 'mnist-smallcn' \(did you mean 'mnist-smallcnn'\?\)/);
  });
});

describe('validation errors name the field and what is allowed', () => {
  it('wrong type', () => {
    const e = withConfig({ attack: { eps: 'big' } });
    expect(e.issues.map((i) => i.field)).toEqual(['attack.eps']);
    expect(e.message).toMatch(/attack\.eps: must be a number \(got 'big'\); allowed: a number in \[0, 1\]/);
  });
  it('enum', () => {
    const e = withConfig({ provider: 'gpu' });
    expect(e.issues[0].field).toBe('provider');
    expect(e.message).toMatch(/provider: is not one of the allowed values \(got 'gpu'\); allowed: one of 'cpu', 'cuda', 'webgpu'/);
  });
  it('range and integer', () => {
    const e = withConfig({ attack: { eps: 2, steps: 2.5 }, batchSize: 0 });
    expect(e.issues.map((i) => i.field).sort()).toEqual(['attack.eps', 'attack.steps', 'batchSize']);
    expect(e.message).toMatch(/attack\.eps: must be <= 1 \(got 2\)/);
    expect(e.message).toMatch(/attack\.steps: must be an integer \(got 2\.5\)/);
    expect(e.message).toMatch(/batchSize: must be >= 1 \(got 0\)/);
  });
  it('knots: shape, range and order', () => {
    const e = withConfig({ optim: { robust: { lr: [[0, 0.1], [1.5, 0.01], [0.5]] } } });
    expect(e.issues.map((i) => i.field)).toEqual(['optim.robust.lr[1][0]', 'optim.robust.lr[2]']);
    expect(e.message).toMatch(/must have exactly 2 items/);
    const o = withConfig({ generalist: { beta: [[0.5, 1], [0.2, 0.4]] } });
    expect(o.issues[0].field).toBe('generalist.beta');
    expect(o.message).toMatch(/nondecreasing/);
  });
  it('unknown keys in a config object or file, with a suggestion', () => {
    const e = withConfig({ attack: { epsilon: 0.1 }, extra: true });
    expect(e.issues.map((i) => i.field)).toEqual(['attack.epsilon', 'extra']);
    expect(e.message).toMatch(/attack\.epsilon: unknown key \(did you mean 'attack\.eps'\?\); allowed keys of attack: eps, stepSize/);
  });
  it('cross-field rules', () => {
    expect(withConfig({ dataset: { validation: 0 } }).issues[0].field).toBe('eval.split');
    expect(withConfig({ generalist: { ema: { unit: 'run', memory: 5 } } }).issues[0].field).toBe('generalist.ema.memory');
    expect(withConfig({ optim: { natural: { betas: [0.9, 1] } } }).issues[0].field).toBe('optim.natural.betas[1]');
  });
  it('lists every problem at once, one per line', () => {
    const e = withConfig({ epochs: -1, method: 'magic', dataset: { name: 'svhn' } });
    expect(e.issues.length).toBe(3);
    expect(e.message.split('\n').length).toBe(4);
  });
});

describe('overrides', () => {
  it('parse numbers, ratios, booleans, arrays and strings by the field type', () => {
    const c = resolveConfig({
      preset: 'cifar10-resnet18',
      overrides: {
        'attack.eps': '8/255', 'attack.steps': '7', 'optim.robust.weightDecay': '1e-3', 'attack.randomStart': 'false',
        'dataset.verify': '0', 'generalist.beta': '[[0, 1], [1, 0.5]]', 'optim.natural.betas': '0.8,0.99',
        'dataset.dir': '/data/cifar', provider: 'webgpu', name: 'try1',
      },
    });
    expect(c.attack.eps).toBeCloseTo(8 / 255, 15);
    expect(c.attack.steps).toBe(7);
    expect(c.optim.robust.weightDecay).toBe(1e-3);
    expect(c.attack.randomStart).toBe(false);
    expect(c.dataset.verify).toBe(false);
    expect(c.generalist.beta).toEqual([[0, 1], [1, 0.5]]);
    expect(c.optim.natural.betas).toEqual([0.8, 0.99]);
    expect(c.dataset.dir).toBe('/data/cifar');
    expect(c.provider).toBe('webgpu');
    expect(c.outDir).toBe('runs/try1');
    // The preset itself is untouched.
    expect(resolveConfig({ preset: 'cifar10-resnet18' }).attack.steps).toBe(10);
  });
  it('reject unknown keys, groups and unparsable values with clear messages', () => {
    const e = configError(() => parseOverrides({ 'attack.epss': '0.1' }));
    expect(e.message).toMatch(/attack\.epss: unknown config key \(did you mean 'attack\.eps'\?\)/);
    expect(configError(() => parseOverrides({ nonsense: '1' })).issues[0].field).toBe('nonsense');
    expect(configError(() => parseOverrides({ attack: '1' })).message).toMatch(/attack: is a group; set its fields one by one: attack\.eps/);
    expect(configError(() => parseOverrides({ epochs: 'ten' })).message).toMatch(/epochs: 'ten' is not a number/);
    expect(configError(() => parseOverrides({ 'attack.randomStart': 'maybe' })).message).toMatch(/not a boolean/);
    expect(configError(() => parseOverrides({ 'generalist.beta': '[[0,1]' })).message).toMatch(/not a JSON list/);
    // Parsed but invalid: validation names the field.
    expect(configError(() => resolveConfig({ overrides: { epochs: '0' } })).issues[0].field).toBe('epochs');
    expect(configError(() => resolveConfig({ overrides: { 'dataset.name': 'svhn' } })).message).toMatch(/dataset\.name.*'mnist', 'fashion-mnist', 'cifar10', 'cifar100'/);
  });
  it('split key=value arguments', () => {
    expect(parseOverrideArgs(['attack.eps=0.1', '--epochs=3', 'name=a=b'])).toEqual({ 'attack.eps': '0.1', epochs: '3', name: 'a=b' });
    expect(() => parseOverrideArgs(['epochs'])).toThrow(/key=value/);
  });
  it('every listed key can be overridden', () => {
    const keys = listConfigKeys();
    expect(keys).toContain('generalist.redistribution.period');
    expect(keys).toContain('optim.natural.lr');
    expect(keys.length).toBeGreaterThan(40);
  });
});

describe('config files', () => {
  it('merges a JSON file (which may name a preset) under the overrides', () => {
    const f = join(tmp, 'c.json');
    writeFileSync(f, JSON.stringify({ preset: 'fashion-smallcnn', epochs: 5, attack: { steps: 3 } }));
    const c = resolveConfig({ file: f, overrides: { epochs: '6' } });
    expect(c.name).toBe('fashion-smallcnn');
    expect(c.dataset.name).toBe('fashion-mnist');
    expect(c.epochs).toBe(6);
    expect(c.attack.steps).toBe(3);
    expect(c.attack.eps).toBe(0.1);
    writeFileSync(f, '{ "epochs": 5, }');
    expect(configError(() => resolveConfig({ file: f })).message).toMatch(/not valid JSON/);
    writeFileSync(f, JSON.stringify({ atack: {} }));
    expect(configError(() => resolveConfig({ file: f })).message).toMatch(/atack: unknown key \(did you mean 'attack'\?\).*\(in file /);
    expect(configError(() => resolveConfig({ file: join(tmp, 'missing.json') })).message).toMatch(/cannot read config file/);
  });
});

describe('configHash', () => {
  it('is a stable sha256 of canonical JSON', () => {
    const a = resolveConfig({ preset: 'mnist-smallcnn' });
    const b = resolveConfig({ preset: 'mnist-smallcnn' });
    expect(configHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(configHash(a)).toBe(configHash(b));
    // Key order does not matter.
    const shuffled = Object.fromEntries(Object.entries(a).reverse()) as unknown as Config;
    expect(configHash(shuffled)).toBe(configHash(a));
    expect(configHash(resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'attack.eps': '0.2' } }))).not.toBe(configHash(a));
    const renamed = resolveConfig({ preset: 'mnist-smallcnn', overrides: { name: 'other' } });
    expect(configHash(renamed)).not.toBe(configHash(a));
    expect(configHash(renamed, { ignore: ['name', 'outDir'] })).toBe(configHash(a, { ignore: ['name', 'outDir'] }));
    expect(canonicalJson({ b: [2, { d: 1, c: 0 }], a: 'x' })).toBe('{"a":"x","b":[2,{"c":0,"d":1}]}');
  });

  it('a field added later hashes like its absence while at its default, so older runs still resume', () => {
    const a = resolveConfig({ preset: 'mnist-smallcnn' });
    const older = JSON.parse(JSON.stringify(a)) as { model: Record<string, unknown> };
    delete older.model.normalize; // a config written before model.normalize existed
    expect(configHash(a)).toBe(configHash(older as unknown as Config));
    const normalized = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'model.normalize.mean': '[0.1]', 'model.normalize.std': '[0.3]' } });
    expect(configHash(normalized)).not.toBe(configHash(a));
  });
});

describe('schedules', () => {
  const c = resolveConfig({ preset: 'cifar10-resnet18' });
  it('EMA decay warms up like the recipe', () => {
    expect(emaDecay(c, 0, 1000)).toBeCloseTo(0.1, 12);
    expect(emaDecay(c, 10, 1000)).toBeCloseTo(11 / 20, 12);
    expect(emaDecay(c, 1e6, 1000)).toBeCloseTo(0.999, 12);
    const run = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'generalist.ema.unit': 'run', 'generalist.ema.memory': '0.1' } });
    expect(emaMaxDecay(run, 500)).toBeCloseTo(1 - 1 / 50, 12);
  });

  it('names the first update whose decay the memory sets, not the warm-up', () => {
    const quick = resolveConfig({ preset: 'fashion-smallcnn' }); // memory 50, warm-up 10
    expect(emaMemoryStart(quick, 375)).toBe(440);
    expect(emaDecay(quick, 439, 375)).toBeLessThan(1 - 1 / 50);
    expect(emaDecay(quick, 440, 375)).toBeCloseTo(1 - 1 / 50, 12);
    const long = resolveConfig({ preset: 'fashion-smallcnn', overrides: { 'generalist.ema.memory': '200' } });
    expect(emaMemoryStart(long, 375)).toBe(1790);
    // Below 440 updates, memories 50 and 200 give the same decay at every update.
    for (const t of [0, 100, 374, 439]) expect(emaDecay(long, t, 375)).toBe(emaDecay(quick, t, 375));
  });

  it('a Generalist run too short for its EMA memory says so when it starts', () => {
    const said: string[] = [];
    const quick = resolveConfig({ preset: 'fashion-smallcnn' });
    warnIdleEmaMemory(quick, 375, (m) => said.push(m));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/generalist\.ema\.memory=50 never sets the EMA decay.*375 iterations.*iteration 440/);
    warnIdleEmaMemory(quick, 1383, (m) => said.push(m));
    expect(said).toHaveLength(1);
  });
  it('redistributes on every iteration of epochs 75, 80, ..., 120 in the paper setting', () => {
    const epochs: number[] = [];
    for (let e = 0; e < 120; e++) {
      if (shouldRedistribute(c, { epoch: e, iterInEpoch: 0, iter: e * 391, itersPerEpoch: 391 })) epochs.push(e + 1);
    }
    expect(epochs).toEqual([75, 80, 85, 90, 95, 100, 105, 110, 115, 120]);
    expect(shouldRedistribute(c, { epoch: 74, iterInEpoch: 200, iter: 74 * 391 + 200, itersPerEpoch: 391 })).toBe(true);
    const m = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'generalist.redistribution.period': '10' } });
    const per = 63, total = m.epochs * per, t0 = Math.ceil(0.625 * total);
    const its: number[] = [];
    for (let t = 0; t < total; t++) if (shouldRedistribute(m, { epoch: Math.floor(t / per), iterInEpoch: t % per, iter: t, itersPerEpoch: per })) its.push(t);
    expect(its[0]).toBe(t0);
    expect(its[1] - its[0]).toBe(10);
    const nat = resolveConfig({ preset: 'mnist-smallcnn', overrides: { method: 'natural' } });
    expect(shouldRedistribute(nat, { epoch: 2, iterInEpoch: 0, iter: 150, itersPerEpoch: 63 })).toBe(false);
  });
  it('eps ramps and the step size follows it', () => {
    const m = resolveConfig({ preset: 'mnist-smallcnn', overrides: { 'attack.epsRampFraction': '0.5' } });
    expect(epsAt(m, 0)).toBe(0);
    expect(epsAt(m, 0.25)).toBeCloseTo(0.15, 12);
    expect(epsAt(m, 0.9)).toBeCloseTo(0.3, 12);
    expect(attackStepAt(m, 0.25)).toBeCloseTo(m.attack.stepSize / 2, 12);
    expect(evalStepSize(m)).toBeCloseTo(2.5 * 0.3 / 20, 12);
    expect(knotValue([[0, 1], [0.5, 1], [0.5, 3], [1, 3]], 0.5)).toBe(1);
  });
});

describe('config -> data options', () => {
  it('maps the dataset group and the augmentation choice', () => {
    const c = resolveConfig({ preset: 'cifar10-resnet18', overrides: { 'dataset.dir': '/d', seed: '4' } });
    expect(datasetLoadOptions(c)).toEqual({ dir: '/d', validation: 1000, seed: 4, trainSubset: 0, testSubset: 0, verify: true });
    expect(trainAugment(c)).toEqual({ pad: 4, flip: true });
    expect(trainAugment(resolveConfig({ preset: 'mnist-smallcnn' }))).toEqual({ pad: 0, flip: false });
    expect(datasetLoadOptions(resolveConfig({ preset: 'mnist-smallcnn' })).dir).toBeUndefined();
  });
});
