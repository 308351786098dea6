// `npm run demo`: builds the browser demo into demo/dist (or DEMO_OUT), then serves it on
// localhost (PORT, default 5180). `--build-only` stops after the build.
import { buildDemo, DIST_DIR } from './build.js';
import { serveDemo } from './serve.js';

const dist = await buildDemo(process.env.DEMO_OUT || DIST_DIR);
if (!process.argv.includes('--build-only')) {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 5180 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`demo: PORT must be a port number (0-65535; 0 picks a free one), got "${process.env.PORT}"\n`);
    process.exit(2);
  }
  try {
    const { url } = await serveDemo(dist, port);
    process.stdout.write(`demo: serving ${url}  (Ctrl-C stops)\n`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    process.stderr.write(`demo: port ${port} is in use; run with PORT=another port (PORT=0 picks a free one)\n`);
    process.exit(1);
  }
}
