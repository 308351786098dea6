// TFRecord framing, the container of TensorBoard event files. Each record is
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
// The reader checks both CRCs of every record and refuses a truncated tail.
import { maskedCrc32c } from './crc32c.js';

export class TfRecordError extends Error {
  constructor(message: string) { super(message); this.name = 'TfRecordError'; }
}

/** One record around `data`. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** Every record's data, in order; throws on a CRC mismatch or a truncated record (`what` names the file). */
export function readRecords(bytes: Uint8Array, what = 'TFRecord file'): Uint8Array[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 12 > buf.length) throw new TfRecordError(`${what}: truncated record header at byte ${at}`);
    const len = buf.readBigUInt64LE(at);
    if (buf.readUInt32LE(at + 8) !== maskedCrc32c(buf.subarray(at, at + 8))) throw new TfRecordError(`${what}: length CRC mismatch in record ${out.length} (byte ${at})`);
    const end = at + 12 + Number(len);
    if (end + 4 > buf.length) throw new TfRecordError(`${what}: record ${out.length} (byte ${at}) is truncated`);
    const data = buf.subarray(at + 12, end);
    if (buf.readUInt32LE(end) !== maskedCrc32c(data)) throw new TfRecordError(`${what}: data CRC mismatch in record ${out.length} (byte ${at})`);
    out.push(data);
    at = end + 4;
  }
  return out;
}
