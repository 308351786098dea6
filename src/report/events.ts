// TensorBoard event files: `events.out.tfevents.<unix seconds>.<host>` in the run folder, TFRecord
// records (tfrecord.ts) of Event protos (event-schema.ts). The first record is the file_version
// "brain.Event:2"; then summaries of scalar values (simple_value) and text (the text plugin's
// string tensor). Every writer opens a new file; a resumed run starts its file with a
// SessionLog START at its first step, so TensorBoard discards what an earlier process wrote there.
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DT_STRING, EventProto, SESSION_START } from './event-schema.js';
import { frameRecord, readRecords } from './tfrecord.js';

export const FILE_VERSION = 'brain.Event:2';
const PREFIX = 'events.out.tfevents.';

export interface DecodedValue { tag: string; simpleValue?: number; text?: string; plugin?: string }
export interface DecodedEvent { wallTime: number; step: number; fileVersion?: string; values?: DecodedValue[]; sessionStatus?: number }

/** A fresh event file name in `dir`: the time, the host, and a counter when that name is taken. */
function freshName(dir: string, seconds: number, host: string): string {
  const base = `${PREFIX}${seconds}.${host.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  let name = base;
  for (let k = 1; existsSync(join(dir, name)); k++) name = `${base}.${k}`;
  return name;
}

const encodeEvent = (event: Record<string, unknown>): Uint8Array => EventProto.encode(EventProto.fromObject(event)).finish();

export class EventWriter {
  readonly path: string;

  /** Opens a new event file in `dir` and writes its file_version record. */
  constructor(dir: string, opts: { wallTime?: number; host?: string } = {}) {
    const t = opts.wallTime ?? Date.now() / 1000;
    this.path = join(dir, freshName(dir, Math.floor(t), opts.host ?? hostname()));
    writeFileSync(this.path, frameRecord(encodeEvent({ wall_time: t, step: 0, file_version: FILE_VERSION })), { flag: 'wx' });
  }

  /** Appends one record (the file is opened per write: nothing to close, nothing lost on a crash but the record in flight). */
  private write(event: Record<string, unknown>): void {
    appendFileSync(this.path, frameRecord(encodeEvent({ wall_time: Date.now() / 1000, ...event })));
  }

  /** One event holding a scalar per tag; non-finite values (e.g. no PGD evaluation) are left out. */
  scalars(step: number, values: Record<string, number>): void {
    const value = Object.entries(values).filter(([, v]) => Number.isFinite(v)).map(([tag, v]) => ({ tag, simple_value: v }));
    if (value.length) this.write({ step, summary: { value } });
  }

  /** A text summary (markdown, shown by TensorBoard's text dashboard). */
  text(step: number, tag: string, markdown: string): void {
    const tensor = { dtype: DT_STRING, tensor_shape: {}, string_val: [Buffer.from(markdown, 'utf8')] };
    this.write({ step, summary: { value: [{ tag, metadata: { plugin_data: { plugin_name: 'text' } }, tensor }] } });
  }

  /** Marks a restart at `step`: TensorBoard purges events of earlier files at steps >= step. */
  sessionStart(step: number): void {
    this.write({ step, session_log: { status: SESSION_START } });
  }
}

/** Decodes one event file, checking every record's CRCs. */
export function readEventFile(path: string): DecodedEvent[] {
  return readRecords(readFileSync(path), path).map((data) => {
    const e = EventProto.toObject(EventProto.decode(data), { longs: Number, bytes: String }) as {
      wall_time?: number; step?: number; file_version?: string; session_log?: { status?: number };
      summary?: { value?: { tag: string; simple_value?: number; tensor?: { string_val?: string[] }; metadata?: { plugin_data?: { plugin_name?: string } } }[] };
    };
    const out: DecodedEvent = { wallTime: e.wall_time ?? 0, step: e.step ?? 0 };
    if (e.file_version !== undefined) out.fileVersion = e.file_version;
    if (e.session_log) out.sessionStatus = e.session_log.status ?? 0;
    if (e.summary) {
      out.values = (e.summary.value ?? []).map((v) => ({
        tag: v.tag,
        ...(v.simple_value !== undefined ? { simpleValue: v.simple_value } : {}),
        ...(v.tensor?.string_val?.length ? { text: Buffer.from(v.tensor.string_val[0], 'base64').toString('utf8') } : {}),
        ...(v.metadata?.plugin_data?.plugin_name ? { plugin: v.metadata.plugin_data.plugin_name } : {}),
      }));
    }
    return out;
  });
}

/** The event files of a run folder, oldest first: by the time in the name, then by the counter a taken name gets. */
export function eventFiles(dir: string): string[] {
  const seconds = (n: string) => Number(n.slice(PREFIX.length).split('.')[0]);
  const names = existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(PREFIX)) : [];
  return names.sort((a, b) => seconds(a) - seconds(b) || a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)).map((n) => join(dir, n));
}
