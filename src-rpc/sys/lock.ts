// The write lock. Node has no flock, so we bind a Linux abstract Unix socket: binding is
// exclusive and the kernel releases the name the instant its holder dies, even by SIGKILL
// (rpcd's timeout), so a lock can never be left stuck and needs no staleness heuristics.
//
// Node 18 (OpenWrt 23.05; libuv < 1.46) cuts a socket path at its first NUL, so there every
// abstract name is the same all-NUL name: every scope of every root would be one lock, and a
// job (its kind's lock, then the write lock) would wait for itself. There the lock is a socket
// file instead; a file left by a killed holder is detected by a refused connect and replaced,
// with the one abstract name that Node can bind as a short guard around that check.
import { createServer, connect, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import { mkdirSync, unlinkSync } from 'node:fs';
import { hostPath, sandboxRoot } from './paths.ts';

const RETRY_MS = 15;

function lockId(scope: string): string {
  return createHash('sha256').update(`${sandboxRoot()}\0${scope}`).digest('hex').slice(0, 32);
}

function tryBind(name: string): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(null) : reject(e)));
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

let abstractNames: Promise<boolean> | undefined;

/** Whether two different abstract names can be bound at once (false on Node 18). */
function abstractNamesWork(): Promise<boolean> {
  abstractNames ??= (async () => {
    const base = `\0secubox-mailserver-probe-${process.pid}-${Math.random().toString(16).slice(2)}`;
    const a = await tryBind(`${base}-a`);
    const b = a ? await tryBind(`${base}-b`) : null;
    a?.close();
    b?.close();
    return b !== null;
  })();
  return abstractNames;
}

/** Whether a process still listens on the socket file (a killed holder's file refuses). */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
}

async function tryLockFile(path: string): Promise<Server | null> {
  const guard = await tryBind('\0');
  if (!guard) return null;
  try {
    const server = await tryBind(path);
    if (server || (await listening(path))) return server;
    try {
      unlinkSync(path);
    } catch {
      // its holder just released it
    }
    return await tryBind(path);
  } finally {
    guard.close();
  }
}

async function tryLock(scope: string): Promise<Server | null> {
  if (await abstractNamesWork()) return tryBind(`\0secubox-mailserver-${lockId(scope)}`);
  const dir = hostPath('/var/run/mailserver/locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return tryLockFile(`${dir}/${lockId(scope).slice(0, 24)}`);
}

export class LockBusyError extends Error {
  // toErrorReply maps errors by name (code "busy"); a subclass otherwise keeps Error's name.
  override name = 'LockBusyError';
}

/** Run fn while holding the named lock; waits up to timeoutMs for another holder. */
export async function withLock<T>(scope: string, timeoutMs: number, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let server = await tryLock(scope);
  while (!server) {
    if (Date.now() > deadline) throw new LockBusyError(`another ${scope} operation is still running`);
    await new Promise((r) => setTimeout(r, RETRY_MS + Math.random() * RETRY_MS));
    server = await tryLock(scope);
  }
  try {
    return await fn();
  } finally {
    server.close();
  }
}
