// The typed door to luci.mailserver: every call goes through LuCI's own rpc.declare (JSON-RPC
// on /ubus with the session LuCI holds), so session handling, batching and the session-expired
// dialog stay LuCI's. Method names and arguments are typed from the method table
// (gen/methods.ts), results from types.ts.
import { METHODS, type MethodArgs, type MethodName } from './gen/methods.ts';
import type { ErrorReply, JobStarted, Result } from './types.ts';

type Declared = (...args: unknown[]) => Promise<unknown>;

/** The part of LuCI's `rpc` class the page uses. */
export interface LuciRpc {
  declare(options: { object: string; method: string; params?: string[]; expect?: Record<string, unknown> }): Declared;
}

/** The part of LuCI's `L` the page uses. */
export interface LuciL {
  env: { resource_version?: string; sessionid?: string; nodespec?: { title?: string }; [key: string]: unknown };
  resource(...parts: string[]): string;
}

export type ErrorKind = 'backend' | 'denied' | 'session' | 'network' | 'ubus';

/** A failed call, in words for a person; `field` names the argument at fault. */
export class CallError extends Error {
  // Assigned, not class fields: lowered for the page's target, fields need a helper (~150 B).
  declare readonly kind: ErrorKind;
  declare readonly code?: string;
  declare readonly field?: string;
  constructor(message: string, kind: ErrorKind, code?: string, field?: string) {
    super(message);
    Object.assign(this, { kind, code, field });
  }
}

let rpc: LuciRpc | undefined;
const declared = new Map<string, Declared>();
let access: Declared | undefined;

export function useRpc(r: LuciRpc): void {
  rpc = r;
  declared.clear();
  access = undefined;
}

// ubus status codes (libubus) a reply may carry instead of data.
const UBUS_STATUS: Record<number, string> = {
  1: 'invalid command',
  2: 'invalid argument',
  3: 'method not found: the mail server package on the router is older than this page',
  4: 'not found',
  5: 'the mail server sent no answer',
  6: 'Permission denied',
  7: 'the mail server took too long to answer',
  8: 'not supported',
  9: 'unknown error',
  10: 'connection to the mail server failed',
};

/** Turn whatever LuCI's rpc rejected with into words. */
export function fromRejection(e: unknown): CallError {
  if (e instanceof CallError) return e;
  const err = e as { name?: string; message?: string } | undefined;
  const text = String(err?.message ?? e);
  const first = text.split('\n')[0]!.trim();
  if (err?.name === 'SessionError') return new CallError('Session expired: log in again', 'session');
  // LuCI: "RPC call to luci.mailserver/user_add failed with error -32002: Access denied" + a stack line.
  if (/error -32002\b/.test(text) || /^Access denied/i.test(first)) return new CallError('Permission denied', 'denied');
  const http = /HTTP error (\d+)/.exec(first);
  if (http) return new CallError(`the router answered HTTP ${http[1]}`, 'network');
  if (err?.name === 'TimeoutError' || /timed? ?out/i.test(first)) return new CallError('no answer from the router in time', 'network');
  if (err?.name === 'NetworkError' || e instanceof TypeError) return new CallError('could not reach the router', 'network');
  return new CallError(first.replace(/^RPC call to \S+ failed with /, '') || 'unknown error', 'ubus');
}

function declaredFor(name: MethodName): Declared {
  if (!rpc) throw new CallError('the page was not mounted by LuCI', 'network');
  let fn = declared.get(name);
  if (!fn) {
    fn = rpc.declare({ object: 'luci.mailserver', method: name, params: [...METHODS[name].args] });
    declared.set(name, fn);
  }
  return fn;
}

/** Call one method; resolves with its reply, rejects with a CallError (backend errors included). */
export async function call<N extends MethodName>(name: N, args?: MethodArgs[N]): Promise<Result<N>> {
  const fn = declaredFor(name);
  const values = METHODS[name].args.map((a: string) => (args as Record<string, unknown> | undefined)?.[a]);
  let reply: unknown;
  try {
    reply = await fn(...values);
  } catch (e) {
    throw fromRejection(e);
  }
  if (typeof reply === 'number') throw new CallError(UBUS_STATUS[reply] ?? `ubus status ${reply}`, reply === 6 ? 'denied' : 'ubus');
  if (reply === null || typeof reply !== 'object') throw new CallError('the mail server sent no answer', 'ubus');
  const r = reply as Partial<ErrorReply>;
  if (typeof r.error === 'string') {
    throw new CallError(r.code === 'permission_denied' ? 'Permission denied' : r.error, r.code === 'permission_denied' ? 'denied' : 'backend', r.code, r.field || undefined);
  }
  return reply as Result<N>;
}

export function isJobStarted(x: unknown): x is JobStarted {
  return typeof (x as JobStarted | null)?.job === 'string';
}

/**
 * session.access for one of our methods, asked through LuCI's rpc like any call. A refusal of
 * the question itself (a login without the `unauthenticated` group) counts as "no".
 */
export async function mayCall(method: MethodName): Promise<boolean> {
  if (!rpc) return false;
  access ??= rpc.declare({ object: 'session', method: 'access', params: ['scope', 'object', 'function'], expect: { access: false } });
  try {
    return (await access('ubus', 'luci.mailserver', method)) === true;
  } catch {
    return false;
  }
}
