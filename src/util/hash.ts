// The project's one content hash: sha256 as lowercase hex (model bytes, artifact keys, configs,
// checkpoint data). Node's crypto only; imports nothing of the project.
import { createHash } from 'node:crypto';

/** sha256 of bytes or a string's UTF-8, or of several such pieces in a row (hashed as their concatenation), as 64 hex digits. */
export function sha256(data: Uint8Array | string | readonly (Uint8Array | string)[]): string {
  const h = createHash('sha256');
  for (const part of Array.isArray(data) ? data : [data]) h.update(part);
  return h.digest('hex');
}
