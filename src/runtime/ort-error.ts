// One error path for ONNX Runtime: a session that cannot be created or a run that fails becomes an
// OrtError naming the model, the node when ORT says which, and what to do, instead of ORT's raw
// message and a stack trace. No Node API here (the browser demo shares it).

export type OrtPhase = 'load' | 'run';

export class OrtError extends Error {
  constructor(readonly model: string, readonly phase: OrtPhase, readonly node: string | undefined, message: string) {
    super(message);
    this.name = 'OrtError';
  }
}

/** The node ORT names in its message ("In Node, (name, Op, ...)" or "running Op node. Name:'name'"), with its op. */
export function ortNode(message: string): { name: string; op?: string } | undefined {
  const load = /In Node, \("([^"]*)", ([A-Za-z0-9_.]+)/.exec(message);
  if (load) return { name: load[1], op: load[2] };
  const run = /running ([A-Za-z0-9_.]+) node\. Name:'([^']*)'/.exec(message);
  if (run) return { name: run[2], op: run[1] };
  const named = /[Nn]ode(?: name)?[: ]+'([^']+)'/.exec(message);
  return named ? { name: named[1] } : undefined;
}

const ADVICE: Record<OrtPhase, string> = {
  load: 'the file is not a model ONNX Runtime accepts (a misspelled or custom op, an unsupported opset, inconsistent types); check it with `generalist inspect` and re-export it with a standard opset',
  run: "the model failed on its input (a shape or value it does not accept); check the model's input shape with `generalist inspect` and the data it is given",
};

/** Wraps whatever ORT threw. */
export function ortError(e: unknown, model: string, phase: OrtPhase): OrtError {
  if (e instanceof OrtError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  const first = raw.split('\n').find((l) => l.trim()) ?? raw;
  const node = ortNode(raw);
  const where = node ? ` at node "${node.name}"${node.op ? ` (${node.op})` : ''}` : '';
  const what = phase === 'load' ? 'cannot load' : 'failed to run';
  return new OrtError(model, phase, node?.name, `ONNX Runtime ${what} ${model}${where}: ${first.trim().slice(0, 400)}. What to do: ${ADVICE[phase]}`);
}

/** Awaits an ORT call, turning its failure into an OrtError. */
export async function withOrtErrors<T>(model: string, phase: OrtPhase, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw ortError(e, model, phase);
  }
}
