// The base of the errors that carry a stable code, so callers (and tests) tell failures apart
// without parsing prose. Imports nothing of the project.

export class CodedError<C extends string> extends Error {
  constructor(name: string, readonly code: C, message: string) {
    super(message);
    this.name = name;
  }
}
