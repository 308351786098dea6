// Runs a TypeScript entry point (`node scripts/run-bundled.mjs <entry.ts> [args]`) as one esbuild
// bundle in plain Node, without tsx. tsx compiles on the fly through Node's module hooks, which
// Node 20 runs on a loader thread of their own: 10-15 MiB of RSS in every process (SmallCNN's bench
// peaked at 373-378 MiB under tsx, 362-364 bundled). `npm start` and `npm run bench` go through here;
// the tests and the other scripts keep tsx.
//
// The bundle is written to .cache/bundle/, two folders below the project root like the sources
// (so their import.meta.url paths, ../../package.json, resolve the same), with the worker thread's
// script beside it; packages stay external, loaded from node_modules as before. Bundling SmallCNN's
// whole CLI takes well under a second.
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-bundled.mjs <entry.ts> [args]');
  process.exit(2);
}
const dir = join(root, '.cache', 'bundle');
mkdirSync(dir, { recursive: true });
const out = join(dir, basename(entry).replace(/\.ts$/, '.mjs'));
// Written under a name of this process's, then renamed: two runs at once never read half a file.
const tmp = `${out}.${process.pid}.tmp`;
buildSync({ entryPoints: [resolve(entry)], outfile: tmp, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: 'inline', logLevel: 'warning' });
const worker = join(dir, 'session-worker.mjs');
copyFileSync(join(root, 'src', 'runtime', 'session-worker.mjs'), `${worker}.${process.pid}.tmp`);
renameSync(`${worker}.${process.pid}.tmp`, worker);
renameSync(tmp, out);
process.setSourceMapsEnabled(true);
process.argv = [process.argv[0], out, ...args];
await import(pathToFileURL(out).href);
