// The write lock. Node has no flock, so we bind a Linux abstract Unix socket: binding is
// exclusive and the kernel releases the name the instant its holder dies, even by SIGKILL
// (rpcd's timeout), so a lock can never be left stuck and needs no staleness heuristics.
import { createServer, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import { sandboxRoot } from './paths.ts';

const RETRY_MS = 15;

function lockName(scope: string): string {
  const id = createHash('sha256').update(`${sandboxRoot()}\0${scope}`).digest('hex').slice(0, 32);
  return `\0secubox-mailserver-${id}`;
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

export class LockBusyError extends Error {}

/** Run fn while holding the named lock; waits up to timeoutMs for another holder. */
export async function withLock<T>(scope: string, timeoutMs: number, fn: () => Promise<T> | T): Promise<T> {
  const name = lockName(scope);
  const deadline = Date.now() + timeoutMs;
  let server = await tryBind(name);
  while (!server) {
    if (Date.now() > deadline) throw new LockBusyError(`another ${scope} operation is still running`);
    await new Promise((r) => setTimeout(r, RETRY_MS + Math.random() * RETRY_MS));
    server = await tryBind(name);
  }
  try {
    return await fn();
  } finally {
    server.close();
  }
}
