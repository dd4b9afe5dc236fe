// The shape of one entry in the method table: everything every door needs to know.
import type { ArgSpec, ArgValues } from './args.ts';
import type { Context, Locked } from '../core/context.ts';

export type Access = 'read' | 'write';

/** P: the arguments as the handler takes them, `prepare`'s result when there is one. */
export interface Method<S extends ArgSpec = ArgSpec, R extends object = object, P = ArgValues<S>> {
  name: string;
  access: Access;
  /** One line for `mailctl help`, rpcd docs and the UI. */
  doc: string;
  /** Words after `mailctl`, e.g. ['user', 'add']. */
  cli: string[];
  args: S;
  /** Belongs to the delegated accounts ACL group (mailboxes and aliases only). */
  accounts?: boolean;
  /**
   * Long work: through rpcd the call returns a job id at once and the work runs detached;
   * the CLI runs it in the foreground. The handler reports through ctx.progress and takes
   * the write lock itself around what it changes.
   */
  job?: true;
  /**
   * Costly work on the valid arguments that needs no lock (hashing a password): done after
   * every argument is checked and before a write waits in line, so the lock is held briefly.
   * A job's prepared arguments are stored with it: they must be JSON.
   */
  prepare?: (args: ArgValues<S>) => P;
  handler: (args: P, ctx: Context) => Promise<R> | R;
  /**
   * What a write method does instead when procd supervises the daemons (a router): it runs
   * outside the write lock, because the init script it calls renders under that lock itself;
   * `locked` runs the rest of its work inside the lock, with a context loaded there.
   */
  underProcd?: (args: P, ctx: Context, locked: Locked) => Promise<R> | R;
  /** Human rendering for the CLI; without it the CLI prints the object as JSON. */
  text?: (result: R) => string;
  /**
   * A result that reports a problem (a DNS check with wrong records): every door returns the
   * object as it is, and the CLI prints it and exits 1.
   */
  failed?: (result: R) => boolean;
}

/** Identity with inference: keeps each table entry typed against its own args. */
export function method<S extends ArgSpec, R extends object, P = ArgValues<S>>(m: Method<S, R, P>): Method<S, R, P> {
  return m;
}
