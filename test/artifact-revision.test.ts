// The graphs' fingerprints at this GRAPH_REVISION (src/artifacts/build.ts). The revision is part of
// the artifact cache key: a change to what the builder emits for the same model and options must
// bump it, or runs with a cache would go on training with the earlier graphs. When this test fails
// after an intended change to a rule or a formulation: bump GRAPH_REVISION (saying why, beside it)
// and record the new fingerprints here.
import { describe, expect, it } from 'vitest';
import { buildArtifacts, GRAPH_REVISION, type ArtifactOptions } from '../src/artifacts/build.js';
import { ARTIFACT_NAMES } from '../src/artifacts/store.js';
import type { Model } from '../src/onnx/ir.js';
import { saveModel } from '../src/onnx/save.js';
import { sha256 } from '../src/util/hash.js';
import { buildZooModel } from '../src/zoo/index.js';
import { tinyBnCnn } from './helpers/tiny-bn-cnn.js';

const cases: { name: string; model: () => Model; options: Partial<ArtifactOptions> }[] = [
  { name: 'smallcnn, defaults', model: () => buildZooModel('smallcnn', { seed: 0 }), options: { pgdSteps: 2 } },
  { name: 'tiny BN CNN, defaults', model: () => tinyBnCnn(0), options: { pgdSteps: 2 } },
  { name: 'tiny BN CNN, TRADES and Adam', model: () => tinyBnCnn(0), options: { pgdSteps: 2, loss: 'trades', optimizer: 'adam' } },
];

/** sha256 of the four graphs' bytes, first 16 hex digits, in ARTIFACT_NAMES order. */
const RECORDED: Record<number, Record<string, string[]>> = {
  2: {
    'smallcnn, defaults': ['b28db75428b31c42', '9548dcc5babe8527', '820360fdc10f0d8a', '7dfec169ff98d1fc'],
    'tiny BN CNN, defaults': ['352c3048c41d708d', 'e1cc75d40ace59b8', 'b5e62a6f86165401', '10e9147dc63bb184'],
    'tiny BN CNN, TRADES and Adam': ['0c9e00a15c0e056f', 'a8b958ddfc3578da', 'b5e62a6f86165401', '10e9147dc63bb184'],
  },
};

describe(`artifact graphs at GRAPH_REVISION ${GRAPH_REVISION}`, () => {
  for (const c of cases) {
    it(`${c.name}: the graphs are the ones recorded for this revision`, () => {
      const built = buildArtifacts(c.model(), c.options);
      const got = ARTIFACT_NAMES.map((k) => sha256(saveModel(built.models[k])).slice(0, 16));
      const want = RECORDED[GRAPH_REVISION]?.[c.name];
      expect(want, `no fingerprints recorded for revision ${GRAPH_REVISION}: record ${JSON.stringify(got)}`).toBeDefined();
      expect(got, 'the built graphs changed: bump GRAPH_REVISION in src/artifacts/build.ts and record the new fingerprints').toEqual(want);
    });
  }
});
