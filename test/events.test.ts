import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32c, maskedCrc32c } from '../src/report/crc32c.js';
import { frameRecord, readRecords, TfRecordError } from '../src/report/tfrecord.js';
import { EventWriter, eventFiles, FILE_VERSION, readEventFile, type DecodedEvent } from '../src/report/events.js';
import { SESSION_START } from '../src/report/event-schema.js';
import { train } from '../src/train/trainer.js';
import { TensorBoardLog } from '../src/report/tensorboard-log.js';
import { tinyRunConfig } from './helpers/tiny-run.js';
import { eventScalars } from '../src/report/run-data.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'gen-events-'));
const cacheDir = join(tmpdir(), 'gen-train-cache');
const bytes = (s: string) => new TextEncoder().encode(s);

describe('CRC-32C and TFRecord framing', () => {
  it('matches the standard check value and the RFC 3720 test vectors', () => {
    expect(crc32c(bytes('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });

  it('masks as TFRecord does: rotate right 15, add 0xa282ead8', () => {
    const c = crc32c(bytes('123456789'));
    const m = maskedCrc32c(bytes('123456789'));
    const unmasked = ((m - 0xa282ead8) >>> 0);
    expect(((unmasked << 15) | (unmasked >>> 17)) >>> 0).toBe(c);
  });

  it('frames records (length, masked CRC of length, data, masked CRC of data) and reads them back', () => {
    const data = [bytes('a'), bytes(''), bytes('brain.Event:2'.repeat(40))];
    const file = Buffer.concat(data.map(frameRecord));
    const r0 = frameRecord(data[0]);
    expect(r0.length).toBe(8 + 4 + 1 + 4);
    expect(r0.readBigUInt64LE(0)).toBe(1n);
    expect(r0.readUInt32LE(8)).toBe(maskedCrc32c(r0.subarray(0, 8)));
    expect(r0.readUInt32LE(13)).toBe(maskedCrc32c(data[0]));
    expect(readRecords(file).map((d) => Buffer.from(d).toString())).toEqual(data.map((d) => Buffer.from(d).toString()));
  });

  it('refuses every damaged byte and a truncated tail', () => {
    const file = Buffer.concat([frameRecord(bytes('first')), frameRecord(bytes('second'))]);
    for (let i = 0; i < file.length; i++) {
      const bad = Buffer.from(file);
      bad[i] ^= 0x10;
      expect(() => readRecords(bad), `byte ${i}`).toThrow(TfRecordError);
    }
    expect(() => readRecords(file.subarray(0, file.length - 1))).toThrow(/truncated/);
    expect(() => readRecords(file.subarray(0, 20))).toThrow(/truncated/);
  });
});

describe('TensorBoard event files', () => {
  it('start with file_version, then scalar and text summaries; non-finite scalars are left out', () => {
    const dir = tmp();
    const w = new EventWriter(dir, { wallTime: 1700000000.5, host: 'test host' });
    expect(w.path).toBe(join(dir, 'events.out.tfevents.1700000000.test_host'));
    w.scalars(3, { 'loss/R': 0.25, 'acc/R': 0.5, 'val_pgd/G': NaN });
    w.text(3, 'config', '# hello');
    w.sessionStart(7);
    const ev = readEventFile(w.path);
    expect(ev[0]).toEqual({ wallTime: 1700000000.5, step: 0, fileVersion: FILE_VERSION });
    expect(ev[1].step).toBe(3);
    expect(ev[1].values).toEqual([{ tag: 'loss/R', simpleValue: 0.25 }, { tag: 'acc/R', simpleValue: 0.5 }]);
    expect(ev[2].values).toEqual([{ tag: 'config', text: '# hello', plugin: 'text' }]);
    expect(ev[3]).toMatchObject({ step: 7, sessionStatus: SESSION_START });
    // A second writer in the same second gets its own file, listed after the first.
    const w2 = new EventWriter(dir, { wallTime: 1700000000.9, host: 'test host' });
    expect(eventFiles(dir)).toEqual([w.path, w2.path]);
    const damaged = readFileSync(w.path);
    damaged[damaged.length - 2] ^= 1;
    writeFileSync(w.path, damaged);
    expect(() => readEventFile(w.path)).toThrow(/data CRC mismatch in record 3/);
  });
});

describe('reading a run\'s event files back (the report\'s per-iteration curves)', () => {
  it('a later file\'s session start drops what an earlier process wrote at and after that step', () => {
    const dir = tmp();
    const a = new EventWriter(dir, { wallTime: 100, host: 'h' });
    for (let s = 1; s <= 5; s++) a.scalars(s, { loss: s });
    const b = new EventWriter(dir, { wallTime: 200, host: 'h' });
    b.sessionStart(4);
    for (let s = 4; s <= 6; s++) b.scalars(s, { loss: 10 * s });
    expect(eventScalars(dir).loss).toEqual([[1, 1], [2, 2], [3, 3], [4, 40], [5, 50], [6, 60]]);
  });
});

/** Scalars of one tag in an event list, by step. */
const series = (ev: DecodedEvent[], tag: string) => ev.flatMap((e) => (e.values ?? []).filter((v) => v.tag === tag).map((v) => [e.step, v.simpleValue!] as const));

describe('the training run writes event files as it goes', () => {
  it('iteration, epoch and test scalars with monotone steps; a resumed run appends a new file that continues the steps', async () => {
    const dir = tmp();
    const seenDuringEpoch1: number[] = [];
    const peek = { epoch: () => { if (!seenDuringEpoch1.length) seenDuringEpoch1.push(...series(readEventFile(eventFiles(dir)[0]), 'train_loss/R').map(([s]) => s)); } };
    const first = await train(tinyRunConfig(dir), { sink: null, cacheDir, maxIterations: 11, observers: [new TensorBoardLog(), peek] });
    expect(first.interrupted).toBe(true);
    expect(seenDuringEpoch1).toEqual([1, 2, 3, 4, 5, 6, 7, 8]); // on disk before the epoch's end
    const last = await train(tinyRunConfig(dir), { sink: null, cacheDir, resume: true });
    expect(last.interrupted).toBe(false);

    const files = eventFiles(dir);
    expect(files).toHaveLength(2);
    const [a, b] = files.map(readEventFile);
    for (const ev of [a, b]) {
      expect(ev[0].fileVersion).toBe(FILE_VERSION);
      const steps = ev.slice(1).filter((e) => e.sessionStatus === undefined && e.values?.some((v) => v.simpleValue !== undefined)).map((e) => e.step);
      for (let i = 1; i < steps.length; i++) expect(steps[i]).toBeGreaterThanOrEqual(steps[i - 1]);
    }
    expect(series(a, 'train_loss/R').map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(b[1]).toMatchObject({ step: 12, sessionStatus: SESSION_START });
    expect(series(b, 'train_loss/R').map(([s]) => s)).toEqual([12, 13, 14, 15, 16]);
    expect(b.find((e) => e.values?.[0]?.tag === 'config')!.values![0].text).toContain('"name": "tiny"');

    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const valClean = [...series(a, 'val_clean/G'), ...series(b, 'val_clean/G')];
    expect(valClean.map(([s]) => s)).toEqual([8, 16]);
    valClean.forEach(([, v], i) => expect(v).toBeCloseTo(metrics[i].val.G.clean, 6));
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    for (const k of ['G', 'R', 'N']) {
      expect(series(b, `test_clean/${k}`)).toEqual([[16, Math.fround(summary.test[k].clean)]]);
      expect(series(b, `test_pgd2/${k}`)).toEqual([[16, Math.fround(summary.test[k].robust)]]);
    }
    for (const tag of ['train_acc/N', 'lr/R', 'lr/N', 'schedule/eps', 'schedule/beta', 'schedule/ema_decay', 'speed/images_per_sec']) {
      expect(series(b, tag), tag).toHaveLength(5);
    }
    expect(b.at(-1)!.values![0]).toMatchObject({ tag: 'test_table', plugin: 'text' });
  }, 600_000);
});
