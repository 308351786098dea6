// Stands in for node:fs, node:path and node:crypto in the page's bundle. The shared library
// modules import them for file helpers (loadModelFile, saveModelFile, ...) that the page never
// calls; calling one says why it cannot work here.
const unavailable = (name: string) => (): never => {
  throw new Error(`${name} is a Node API; the browser demo has no file system (use the in-memory functions)`);
};
export const readFileSync = unavailable('readFileSync');
export const writeFileSync = unavailable('writeFileSync');
export const renameSync = unavailable('renameSync');
export const openSync = unavailable('openSync');
export const fsyncSync = unavailable('fsyncSync');
export const closeSync = unavailable('closeSync');
export const statSync = unavailable('statSync');
export const fstatSync = unavailable('fstatSync');
export const readSync = unavailable('readSync');
export const realpathSync = unavailable('realpathSync');
export const existsSync = unavailable('existsSync');
export const mkdirSync = unavailable('mkdirSync');
export const rmSync = unavailable('rmSync');
export const accessSync = unavailable('accessSync');
export const writeSync = unavailable('writeSync');
export const appendFileSync = unavailable('appendFileSync');
export const linkSync = unavailable('linkSync');
export const readdirSync = unavailable('readdirSync');
export const copyFileSync = unavailable('copyFileSync');
/** fs.constants: read for open flags only inside the file helpers the page never calls. */
export const constants: Record<string, number> = {};
export const dirname = unavailable('path.dirname');
export const isAbsolute = unavailable('path.isAbsolute');
export const resolve = unavailable('path.resolve');
export const relative = unavailable('path.relative');
export const join = unavailable('path.join');
export const basename = unavailable('path.basename');
export const sep = '/';
export const createHash = unavailable('crypto.createHash');
