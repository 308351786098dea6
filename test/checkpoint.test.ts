// A checkpoint verifies itself: 38+ corruptions of an epoch-1 checkpoint (truncations, bit-flips in
// the header and the data, edited header fields with and without a recomputed digest, a directory,
// a FIFO, a symlink to /dev/zero) are each refused with one clear message, or, where harmless,
// accepted with exactly the state of the intact file. None crashes or hangs.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/index.js';
import { CheckpointError } from '../src/train/checkpoint.js';
import { TrainError } from '../src/train/errors.js';
import { releaseRun, setUpRun, type Run } from '../src/train/run.js';
import { TrainingState } from '../src/train/state.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

const cacheDir = join(tmpdir(), 'gen-train-cache');
const tiny = (outDir: string) => resolveConfig({
  preset: 'mnist-smallcnn',
  overrides: {
    name: 'ck', outDir, threads: '1', epochs: '2', batchSize: '64', 'dataset.trainSubset': '256', 'dataset.validation': '100',
    'dataset.testSubset': '100', 'attack.steps': '1', 'eval.pgdSteps': '1', 'eval.n': '50', 'eval.finalN': '50', 'generalist.ema.memory': '4',
  },
});

const PREFIX = 12;
const DIGEST = 32;

interface Parts { header: Record<string, any>; data: Buffer }
function split(buf: Buffer): Parts {
  const hlen = buf.readUInt32LE(8);
  return { header: JSON.parse(buf.toString('utf8', PREFIX + DIGEST, PREFIX + DIGEST + hlen)), data: buf.subarray(PREFIX + DIGEST + hlen) };
}
/** A checkpoint file of this header and data; `sign` recomputes the digest (else the original's is kept). */
function assemble(p: Parts, original: Buffer, sign: boolean): Buffer {
  const json = Buffer.from(JSON.stringify(p.header), 'utf8');
  const header = Buffer.concat([json, Buffer.alloc((8 - ((PREFIX + DIGEST + json.length) % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(PREFIX);
  prefix.write('GENCKPT2', 0, 'ascii');
  prefix.writeUInt32LE(header.length, 8);
  const digest = sign ? createHash('sha256').update(prefix).update(header).update(p.data).digest() : original.subarray(PREFIX, PREFIX + DIGEST);
  return Buffer.concat([prefix, digest, header, p.data]);
}

type Corruption = { name: string; write: (path: string) => void };

/** The corruptions: each writes a damaged checkpoint at the path. */
function corruptions(orig: Buffer): Corruption[] {
  const bytes = (name: string, f: (b: Buffer) => Buffer): Corruption => ({ name, write: (p) => writeFileSync(p, f(Buffer.from(orig))) });
  const hlen = orig.readUInt32LE(8);
  const dataStart = PREFIX + DIGEST + hlen;
  const rng = new Rng(14);
  const flip = (at: number) => (b: Buffer) => { b[at] ^= 1 << rng.int(8); return b; };
  const list: Corruption[] = [
    bytes('empty file', () => Buffer.alloc(0)),
    bytes('magic only', (b) => b.subarray(0, 8)),
    bytes('cut inside the digest', (b) => b.subarray(0, 30)),
    bytes('cut inside the header', (b) => b.subarray(0, PREFIX + DIGEST + (hlen >> 1))),
    bytes('cut at the data start', (b) => b.subarray(0, dataStart)),
    bytes('cut inside the data', (b) => b.subarray(0, dataStart + ((b.length - dataStart) >> 1))),
    bytes('last byte missing', (b) => b.subarray(0, b.length - 1)),
    bytes('a byte appended', (b) => Buffer.concat([b, Buffer.from([0])])),
    bytes('magic bit-flip', flip(3)),
    bytes('header length bit-flip', flip(9)),
    bytes('header length huge', (b) => { b.writeUInt32LE(0xfffffff0, 8); return b; }),
    bytes('digest bit-flip', flip(PREFIX + 5)),
  ];
  for (let i = 0; i < 8; i++) {
    const at = PREFIX + DIGEST + rng.int(hlen);
    list.push(bytes(`header bit-flip at ${at}`, flip(at)));
  }
  for (let i = 0; i < 6; i++) {
    const at = dataStart + rng.int(orig.length - dataStart);
    list.push(bytes(`data bit-flip at ${at}`, flip(at)));
  }
  const edit = (name: string, f: (p: Parts) => void): Corruption[] => [false, true].map((sign) => ({
    name: `${name}${sign ? ' (digest recomputed)' : ''}`,
    write: (path: string) => { const p = split(orig); f(p); writeFileSync(path, assemble(p, orig, sign)); },
  }));
  const e0 = (p: Parts) => p.header.entries[0];
  const state = (p: Parts) => p.header.meta.state;
  list.push(
    ...edit('dims edited', (p) => { e0(p).dims = [...e0(p).dims.slice(0, -1), e0(p).dims.at(-1) + 1]; }),
    ...edit('dims and bytes edited to match', (p) => { const d = e0(p).dims; e0(p).dims = [d[0] * 2, ...d.slice(1)]; e0(p).bytes *= 2; }),
    ...edit('dims transposed', (p) => { e0(p).dims = [...e0(p).dims].reverse(); }),
    ...edit('dtype float64', (p) => { e0(p).type = 'float64'; }),
    ...edit('dtype int32 (same size)', (p) => { e0(p).type = 'int32'; }),
    ...edit('dtype unknown', (p) => { e0(p).type = 'bfloat99'; }),
    ...edit('offset shifted by 4', (p) => { p.header.entries[1].offset += 4; }),
    ...edit('offset of another entry', (p) => { p.header.entries[1].offset = e0(p).offset; }),
    ...edit('offset past the end', (p) => { p.header.entries[1].offset = p.header.dataBytes; }),
    ...edit('an entry removed', (p) => { p.header.entries.splice(3, 1); }),
    ...edit('an entry renamed', (p) => { e0(p).key = 'R.w/not-a-weight'; }),
    ...edit('meta.state removed', (p) => { delete p.header.meta.state; }),
    ...edit('state.epoch = 99', (p) => { state(p).epoch = 99; }),
    ...edit('state.epoch = -1', (p) => { state(p).epoch = -1; }),
    ...edit('state.iterInEpoch = 1.5', (p) => { state(p).iterInEpoch = 1.5; }),
    ...edit('noiseRng a string', (p) => { state(p).noiseRng = 'abc'; }),
    ...edit('noiseRng all zero', (p) => { state(p).noiseRng = [0, 0, 0, 0]; }),
    ...edit('metrics removed', (p) => { state(p).metrics = []; }),
    ...edit('entries not a list', (p) => { p.header.entries = {}; }),
    ...edit('method changed in meta.config', (p) => { p.header.meta.config.method = 'natural'; }),
    ...edit('entries reordered (harmless)', (p) => { p.header.entries.reverse(); }),
  );
  list.push({ name: 'a directory', write: (p) => mkdirSync(p) });
  list.push({ name: 'a symlink to /dev/zero', write: (p) => symlinkSync('/dev/zero', p) });
  list.push({ name: 'a FIFO', write: (p) => execFileSync('mkfifo', [p]) });
  return list;
}

describe('self-verifying checkpoints', () => {
  let dir: string;
  let run: Run;
  let orig: Buffer;
  let intact: TrainingState;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gen-ckpt-'));
    const cfg = tiny(dir);
    await train(cfg, { sink: null, cacheDir, maxIterations: 4 }); // 4 iterations = epoch 1 of 256 / 64
    orig = readFileSync(join(dir, 'checkpoint.bin'));
    run = await setUpRun(cfg, { resume: true, cacheDir, log: () => {} });
    intact = new TrainingState(run);
    intact.resume(run);
    expect(intact.st.epoch).toBe(1);
  });
  afterAll(async () => { await releaseRun(run); rmSync(dir, { recursive: true, force: true }); });

  it('refuses every damaging corruption with one clear message and accepts the harmless ones unchanged', () => {
    const outcomes = { refused: 0, accepted: 0 };
    const list = corruptions(orig);
    expect(list.length).toBeGreaterThanOrEqual(38);
    for (const c of list) {
      rmSync(run.ckptPath, { recursive: true, force: true });
      c.write(run.ckptPath);
      const s = new TrainingState(run);
      let err: unknown;
      try {
        s.resume(run);
      } catch (e) {
        err = e;
      }
      if (err) {
        expect(err instanceof CheckpointError || err instanceof TrainError, `${c.name}: ${(err as Error).stack}`).toBe(true);
        expect((err as Error).message, c.name).toMatch(/checkpoint|resume/);
        expect((err as Error).message, c.name).not.toMatch(/undefined|NaN|\[object/);
        outcomes.refused++;
      } else {
        expect(c.name).toMatch(/harmless/);
        expect(s.st, c.name).toEqual(intact.st);
        const digest = (t: TrainingState) => createHash('sha256').update(JSON.stringify(Object.entries(t.learners.G).map(([k, x]) => [k, Buffer.from((x.data as Float32Array).buffer).toString('base64')]))).digest('hex');
        expect(digest(s), c.name).toBe(digest(intact));
        outcomes.accepted++;
      }
    }
    rmSync(run.ckptPath, { recursive: true, force: true });
    writeFileSync(run.ckptPath, orig);
    console.log(`checkpoint corruptions: ${list.length}, refused ${outcomes.refused}, accepted unchanged ${outcomes.accepted}`);
    expect(outcomes.refused + outcomes.accepted).toBe(list.length);
    expect(outcomes.accepted).toBe(1);
  });

  it('names the problem: the digest, a truncation, a field, a non-file', () => {
    const cases: [string, RegExp][] = [
      ['last byte missing', /the header says \d+ data bytes, the file has \d+ \(truncated\?\)/],
      ['data bit-flip', /checksum mismatch/],
      ['cut inside the header', /header runs past the end of the file \(truncated\?\)/],
      ['offset shifted by 4 (digest recomputed)', /offset \d+ is not an aligned position/],
      ['dims edited (digest recomputed)', /bytes do not fit dims/],
      ['dtype int32 (same size) (digest recomputed)', /is int32, the run needs float32/],
      ['an entry removed (digest recomputed)', /missing/],
      ['meta.state removed (digest recomputed)', /meta\.state is missing/],
      ['state.epoch = 99 (digest recomputed)', /beyond this run's 2 epochs/],
      ['noiseRng a string (digest recomputed)', /noiseRng is not a random-stream state/],
      ['method changed in meta.config (digest recomputed)', /method was "natural" in the checkpoint and is "generalist" now/],
      ['a directory', /is a directory/],
      ['a symlink to /dev/zero', /not a regular file/],
      ['a FIFO', /not a regular file/],
    ];
    const list = corruptions(orig);
    for (const [name, re] of cases) {
      const c = list.find((x) => x.name.startsWith(name))!;
      rmSync(run.ckptPath, { recursive: true, force: true });
      c.write(run.ckptPath);
      expect(() => new TrainingState(run).resume(run), name).toThrow(re);
    }
    rmSync(run.ckptPath, { recursive: true, force: true });
    writeFileSync(run.ckptPath, orig);
  });
});
