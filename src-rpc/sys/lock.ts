// The product's locks (one writer at a time; one job of a kind; one ACME order): Lamport's
// bakery over files in a directory only root can enter.
//
// - Fair: a caller draws a ticket one above every ticket in the queue and is served when no
//   lower ticket (and nobody still drawing one) is left, so waiters go in arrival order and a
//   late caller can never overtake one that waits.
// - Never stuck: every queue entry names its process by pid and start time (/proc/PID/stat,
//   which no later process with the same pid shares). Node has no flock; a process that died
//   (SIGKILL from rpcd's timeout included) or is a zombie leaves an entry whoever waits removes.
//   Entries were Unix sockets until their connect proved the holder alive, but listening loaded
//   node:net, its streams and node:cluster into every write (~5 ms of a cold `user add`).
// - Root's only: the directory is 0700 root (an abstract socket name, like the one before the
//   sockets, can be bound by any local user, who could then make every write wait and fail).
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, watch, writeFileSync } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { hostPath } from './paths.ts';
import { ensureDir } from './fs.ts';
import { sha512 } from './sha512.ts';
import { unlinkIfPresent } from './unlink.ts';
import { procStat } from './proc.ts';

const RUN_DIR = '/var/run/mailserver';
const LOCKS_DIR = `${RUN_DIR}/locks`;
/** How often a waiter re-checks that the entry ahead of it is alive (its removal wakes it at once). */
const CHECK_MS = 500;
const TICKET_DIGITS = 10;

export class LockBusyError extends Error {
  // toErrorReply maps errors by name (code "busy"); a subclass otherwise keeps Error's name.
  override name = 'LockBusyError';
}

/** A directory of ours that nobody else may enter or replace: created 0700, refused otherwise. */
function privateDir(path: string, mode: number): void {
  // Looked at first: at every lock but the first, the directory is there, and a refused mkdir
  // would build an error (with its stack) for nothing.
  let st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) {
    try {
      mkdirSync(path, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    st = lstatSync(path);
  }
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid) throw new Error(`lock directory ${path} is not a directory owned by uid ${uid}: remove it`);
  // mkdir's mode passes through the umask (077 under rpcd): set it explicitly.
  if ((st.mode & 0o7777) !== mode) chmodSync(path, mode);
}

/** A scope's queue directory under the locks directory: a hash gives every scope a short name fit for a directory. */
export const scopeDirName = (scope: string) => sha512(Buffer.from(scope)).toString('hex').slice(0, 12);

function scopeDir(scope: string): string {
  if (!existsSync(hostPath('/var/run'))) ensureDir(hostPath('/var/run'));
  privateDir(hostPath(RUN_DIR), 0o755);
  privateDir(hostPath(LOCKS_DIR), 0o700);
  const dir = join(hostPath(LOCKS_DIR), scopeDirName(scope));
  privateDir(dir, 0o700);
  return dir;
}

/** A process's start time (clock ticks after boot), or null when it is gone or a zombie. */
function startTime(pid: number | 'self'): string | null {
  const fields = procStat(pid);
  return fields && fields[0] !== 'Z' && fields[0] !== 'X' ? (fields[19] ?? null) : null;
}

let draws = 0;

/** This process in entry names: `<pid>-<start time>-<draw>` (two draws of one process differ). */
function ownId(): string {
  const start = startTime('self');
  // Without /proc every entry would look dead and nobody would wait: refuse instead.
  if (start === null) throw new Error('locks need /proc (cannot read /proc/self/stat)');
  return `${process.pid}-${start}-${++draws}`;
}

/** Whether the process an entry names still runs (the same process: the pid and its start time). */
function alive(name: string): boolean {
  const [pid, start] = name.slice(name.startsWith('q.') ? 2 + TICKET_DIGITS + 1 : 2).split('-');
  return start !== undefined && startTime(Number(pid)) === start;
}

function createEntry(path: string): void {
  writeFileSync(path, '', { flag: 'wx', mode: 0o600 });
}

// Entry names: `c.<id>` while drawing a ticket, `q.<ticket>.<id>` while waiting or holding.
const ticketOf = (name: string) => Number(name.slice(2, 2 + TICKET_DIGITS));

/** Entries that must go before `mine` may hold the lock: those drawing, and lower tickets. */
function blockers(dir: string, mine: string): string[] {
  const names = readdirSync(dir);
  const drawing = names.filter((n) => n.startsWith('c.'));
  const ahead = names.filter((n) => n.startsWith('q.') && n < mine).sort();
  return [...drawing, ...ahead];
}

/** Draw a ticket: the path of this caller's entry in the queue. */
function draw(dir: string): string {
  const id = ownId();
  const choosing = join(dir, `c.${id}`);
  createEntry(choosing);
  try {
    const highest = Math.max(0, ...readdirSync(dir).filter((n) => n.startsWith('q.')).map(ticketOf));
    const path = join(dir, `q.${String(highest + 1).padStart(TICKET_DIGITS, '0')}.${id}`);
    createEntry(path);
    return path;
  } finally {
    unlinkIfPresent(choosing);
  }
}

/** Wait until the entry at `held` is first in line; false when the deadline passes first. */
async function waitTurn(dir: string, held: string, deadline: number): Promise<boolean> {
  const mine = held.slice(dir.length + 1);
  let wake: () => void = () => {};
  let first: string | undefined;
  // Watched only once somebody is ahead (an uncontended call skips the inotify set-up); the
  // listing after the watch starts sees any removal it could have missed. Only the entry just
  // ahead going away matters: 31 waiters woken by every arrival would take the CPU from the
  // holder they wait for.
  let watcher: FSWatcher | undefined;
  try {
    for (;;) {
      first = blockers(dir, mine)[0];
      // A listing may miss entries created or removed while it runs (another caller between
      // its ticket and the end of drawing): only two clean listings in a row say nobody is ahead.
      if (first === undefined && blockers(dir, mine).length === 0) return true;
      if (first !== undefined && !alive(first)) {
        unlinkIfPresent(join(dir, first));
        continue;
      }
      if (!watcher) {
        watcher = watch(dir, (_event, name) => {
          if (name === null || name === first) wake();
        });
        continue;
      }
      if (Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(CHECK_MS, Math.max(0, deadline - Date.now())));
        wake = () => (clearTimeout(timer), resolve());
      });
    }
  } finally {
    watcher?.close();
  }
}

/**
 * Run fn while holding the named lock. Waits in line until `deadline` (epoch ms); past it,
 * LockBusyError. A deadline already past means: only if nobody else holds or waits.
 */
export async function withLockUntil<T>(scope: string, deadline: number, fn: () => Promise<T> | T): Promise<T> {
  const dir = scopeDir(scope);
  const held = draw(dir);
  try {
    if (!(await waitTurn(dir, held, deadline))) throw new LockBusyError(`another ${scope} operation is still running`);
    return await fn();
  } finally {
    unlinkIfPresent(held);
  }
}

/** Run fn while holding the named lock; waits up to timeoutMs behind earlier callers. */
export function withLock<T>(scope: string, timeoutMs: number, fn: () => Promise<T> | T): Promise<T> {
  return withLockUntil(scope, Date.now() + timeoutMs, fn);
}
