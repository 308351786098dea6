// The user's own data as .npy files: layouts (grayscale, CHW, HWC), dtypes (uint8, float in
// [0, 1]), clear errors for each kind of bad file, and a short training run plus `generalist eval`
// on MNIST written out as .npy the way numpy users would.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';
import { main } from '../src/cli/main.js';
import { DatasetError, loadDataset, loadMnist, loadNpyFolder, NPY_FILES } from '../src/data/index.js';
import { train } from '../src/train/trainer.js';
import { writeNpy } from '../src/util/npy.js';

const tmp = mkdtempSync(join(tmpdir(), 'npy-dataset-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let count = 0;
/** A folder with the four files; `over` replaces any of them by [data, shape]. */
function folder(over: Partial<Record<keyof typeof NPY_FILES, [Parameters<typeof writeNpy>[1], number[]] | null>> = {}): string {
  const dir = join(tmp, `set${count++}`);
  mkdirSync(dir);
  const base: Record<keyof typeof NPY_FILES, [Parameters<typeof writeNpy>[1], number[]]> = {
    trainImages: [Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => i), [4, 2, 3]],
    trainLabels: [BigInt64Array.from([0n, 1n, 2n, 1n]), [4]],
    testImages: [Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => 200 + i), [2, 2, 3]],
    testLabels: [BigInt64Array.from([2n, 0n]), [2]],
  };
  for (const k of Object.keys(NPY_FILES) as (keyof typeof NPY_FILES)[]) {
    const v = k in over ? over[k] : base[k];
    if (v) writeNpy(join(dir, NPY_FILES[k]), v[0], v[1]);
  }
  return dir;
}

describe('npy folder datasets', () => {
  it('reads grayscale [N, H, W] uint8 images and int64 labels; classes from the largest label', () => {
    const { train, test } = loadNpyFolder(folder());
    expect([train.n, train.shape, train.classes]).toEqual([4, [1, 2, 3], 3]);
    expect(Array.from(train.images.subarray(6, 12))).toEqual([6, 7, 8, 9, 10, 11]);
    expect(Array.from(test.labels)).toEqual([2, 0]);
  });

  it('transposes channels-last [N, H, W, 3] to CHW, keeps [N, 3, H, W], and rounds float images to 8 bits', () => {
    // One 2x2 RGB image, pixel p = (10p + 1, 10p + 2, 10p + 3) for p = 0..3.
    const rgb = Uint8Array.from({ length: 12 }, (_, i) => 10 * Math.floor(i / 3) + (i % 3) + 1);
    const planes = [1, 11, 21, 31, 2, 12, 22, 32, 3, 13, 23, 33];
    const hwc = folder({ trainImages: [rgb, [1, 2, 2, 3]], trainLabels: [Int32Array.from([1]), [1]], testImages: [rgb, [1, 2, 2, 3]], testLabels: [Uint8Array.from([0]), [1]] });
    const a = loadNpyFolder(hwc, { classes: 2 }).train;
    expect(a.shape).toEqual([3, 2, 2]);
    expect(Array.from(a.images)).toEqual(planes);
    const chw = folder({ trainImages: [Uint8Array.from(planes), [1, 3, 2, 2]], trainLabels: [Int32Array.from([1]), [1]], testImages: [Uint8Array.from(planes), [1, 3, 2, 2]], testLabels: [Uint8Array.from([0]), [1]] });
    expect(Array.from(loadNpyFolder(chw).train.images)).toEqual(planes);
    const floats = folder({ trainImages: [Float32Array.from({ length: 24 }, (_, i) => i / 23), [4, 2, 3]] });
    const f = loadNpyFolder(floats).train;
    expect(f.images[0]).toBe(0);
    expect(f.images[23]).toBe(255);
    expect(f.images[10]).toBe(Math.round((10 / 23) * 255));
  });

  it('names the file and the problem: missing, wrong shape, float labels, out-of-range floats, count mismatch, shape mismatch', () => {
    const err = (dir: string) => { try { loadNpyFolder(dir); } catch (e) { return e as DatasetError; } throw new Error('no error'); };
    expect(err(join(tmp, 'nope')).message).toMatch(/folder .*nope does not exist/);
    let e = err(folder({ testLabels: null }));
    expect([e.code, e.message]).toEqual(['NOT_FOUND', expect.stringMatching(/test_labels\.npy is missing/)]);
    e = err(folder({ trainImages: [new Uint8Array(4 * 5 * 2 * 6), [4, 5, 2, 6]] }));
    expect(e.message).toMatch(/train_images\.npy has shape \[4, 5, 2, 6\]; expected/);
    e = err(folder({ trainLabels: [Float32Array.from([0, 1, 2, 1]), [4]] }));
    expect([e.code, e.message]).toEqual(['BAD_LABEL', expect.stringMatching(/train_labels\.npy holds floats/)]);
    e = err(folder({ trainImages: [Float32Array.from({ length: 24 }, (_, i) => i), [4, 2, 3]] }));
    expect(e.message).toMatch(/train_images\.npy holds 2 at flat index 2; float images must be in \[0, 1\]/);
    e = err(folder({ trainLabels: [BigInt64Array.from([0n, 1n, 2n]), [3]] }));
    expect(e.message).toMatch(/train_images\.npy has 4 images but train_labels\.npy has 3 labels/);
    e = err(folder({ testImages: [new Uint8Array(2 * 3 * 3), [2, 3, 3]] }));
    expect(e.message).toMatch(/train images are 1x2x3 but test images are 1x3x3/);
    e = err(folder({ trainLabels: [BigInt64Array.from([0n, 1n, -2n, 1n]), [4]] }));
    expect(e.message).toMatch(/label -2 at index 2 is not a class index/);
    expect(() => loadDataset('npy', {})).toThrow(/no dataset dir given; set dataset.dir/);
  });

  it('refuses sparse labels unless the class count is declared, empty splits and images under 2x2', () => {
    const labels = (v: bigint[]) => [BigInt64Array.from(v), [v.length]] as [BigInt64Array, number[]];
    // A stray 12 (or a uint8 255) would make a 13- (or 256-) class model.
    expect(() => loadNpyFolder(folder({ trainLabels: labels([0n, 1n, 12n, 1n]) }))).toThrow(/the largest label is 12, so there would be 13 classes, but classes 3, 4, 5, 6, 7, 8, 9, 10, \.\.\. \(9\) have no images.*dataset\.classes=13/);
    expect(() => loadNpyFolder(folder({ trainLabels: [Uint8Array.from([0, 1, 255, 1]), [4]] }))).toThrow(/largest label is 255, so there would be 256 classes/);
    expect(loadNpyFolder(folder({ trainLabels: labels([0n, 1n, 12n, 1n]) }), { classes: 13 }).train.classes).toBe(13);
    const cfg = resolveConfig({ overrides: { 'dataset.name': 'npy', 'dataset.classes': '13' } });
    expect(cfg.dataset.classes).toBe(13);
    expect(() => loadNpyFolder(folder({ testImages: [new Uint8Array(0), [0, 2, 3]], testLabels: labels([]) }))).toThrow(/test_images\.npy holds 0 images; both splits need images/);
    expect(() => loadNpyFolder(folder({ trainImages: [new Uint8Array(4), [4, 1, 1]], testImages: [new Uint8Array(2), [2, 1, 1]] }))).toThrow(/the images are 1x1 pixels; at least 2x2 are needed/);
  });

  it('trains on MNIST saved as channels-last float .npy, and `eval --dataset npy` reads the same files', async () => {
    const m = loadMnist();
    const dir = join(tmp, 'mnist-npy');
    mkdirSync(dir);
    const take = (ds: typeof m.train, n: number) => [Float32Array.from(ds.images.subarray(0, n * 784), (v) => v / 255), Uint8Array.from(ds.labels.subarray(0, n))] as const;
    const [trx, try_] = take(m.train, 6000);
    const [tex, tey] = take(m.test, 500);
    writeNpy(join(dir, NPY_FILES.trainImages), trx, [6000, 28, 28, 1]);
    writeNpy(join(dir, NPY_FILES.trainLabels), try_, [6000]);
    writeNpy(join(dir, NPY_FILES.testImages), tex, [500, 28, 28, 1]);
    writeNpy(join(dir, NPY_FILES.testLabels), tey, [500]);
    const sets = loadDataset('npy', { dir });
    expect([sets.train.n, sets.shape, sets.classes]).toEqual([6000, [1, 28, 28], 10]);
    expect(Array.from(sets.test.images.subarray(0, 784))).toEqual(Array.from(m.test.images.subarray(0, 784)));

    const outDir = join(tmp, 'npy-run');
    const cfg = resolveConfig({
      preset: 'mnist-smallcnn',
      overrides: {
        name: 'npy', outDir, method: 'natural', 'dataset.name': 'npy', 'dataset.dir': dir, 'dataset.validation': '200', 'dataset.trainSubset': '0',
        threads: '1', epochs: '1', batchSize: '64', 'eval.pgdSteps': '2', 'eval.n': '100', 'eval.finalN': '500',
      },
    });
    const r = await train(cfg, { sink: null, cacheDir: join(tmp, 'cache') });
    expect(r.final!.model.clean).toBeGreaterThan(0.8);

    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: () => {} };
    const json = join(tmp, 'report.json');
    const code = await main(['eval', '--model', r.modelPath!, '--dataset', 'npy', '--data-dir', dir, '--n', '100', '--eps', '0.1', '--attacks', 'pgd5', '--json', json], io);
    expect(code).toBe(0);
    const rep = JSON.parse(readFileSync(json, 'utf8'));
    expect(rep.dataset).toBe('npy/test');
    expect(rep.n).toBe(100);
  }, 300_000);
});
