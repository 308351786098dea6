// Vite settings of the demo page (used by build.ts through Vite's API). The library modules the
// page shares with the CLI import node:fs / node:path / node:crypto for file helpers the page never
// calls; those resolve to a module that says so if called.
import { join } from 'node:path';
import type { InlineConfig } from 'vite';

export function demoViteConfig(o: { root: string; publicDir: string; outDir: string }): InlineConfig {
  const shim = join(o.root, 'src', 'node-shim.ts');
  return {
    configFile: false,
    root: o.root,
    publicDir: o.publicDir,
    logLevel: 'warn',
    resolve: { alias: [{ find: /^node:(fs|path|crypto)$/, replacement: shim }] },
    build: { outDir: o.outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000, reportCompressedSize: false },
    worker: { format: 'es' },
  };
}
