// Errors that travel to callers: a stable code, words for a person, and the argument at fault.
// Every door renders these the same way; anything else is an internal error without a stack.

export type ErrorCode =
  | 'invalid_argument'
  | 'unknown_method'
  | 'not_found'
  | 'exists'
  | 'conflict'
  | 'busy'
  | 'not_implemented'
  | 'unsupported'
  | 'daemon_error'
  | 'permission_denied'
  | 'no_space'
  | 'internal';

export class MailError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export interface ErrorReply {
  error: string;
  code: ErrorCode;
  field?: string;
}

/** Reply object for any thrown value: never a stack trace, never an array. */
export function toErrorReply(e: unknown): ErrorReply {
  if (e instanceof MailError) return e.field ? { error: e.message, code: e.code, field: e.field } : { error: e.message, code: e.code };
  const field = (e as { field?: unknown })?.field;
  if (e instanceof Error && typeof field === 'string') return field ? { error: e.message, code: 'invalid_argument', field } : { error: e.message, code: 'invalid_argument' };
  if (e instanceof Error && e.name === 'LockBusyError') return { error: e.message, code: 'busy' };
  if (e instanceof Error && e.name === 'NoSpaceError') return { error: e.message, code: 'no_space' };
  return { error: e instanceof Error ? e.message : String(e), code: 'internal' };
}

export function notImplemented(what: string, issue: string): never {
  throw new MailError('not_implemented', `${what} is not implemented yet (planned in ${issue})`);
}
