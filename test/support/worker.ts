// The warm plugin worker of a sandbox root, as tests see it: its pid file and its process.
// (Paths follow src-rpc/rpcd/worker.ts's door under /var/run/mailserver/worker.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { processRunning as running } from '../../src-rpc/sys/proc.ts';

export const workerDir = (root: string) => join(root, 'var/run/mailserver/worker');

/** The programs the sh front runs on its warm path (src-rpc/rpcd/front.sh): a PATH of these and no node proves a warm answer. */
export const FRONT_TOOLS = ['cat', 'head', 'rm', 'sleep'];

/** The running worker's pid, or null. */
export function workerPid(root: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(join(workerDir(root), 'pid'), 'utf8').trim());
  } catch {
    return null;
  }
  return running(pid) ? pid : null;
}

/** Wait (generously: a busy machine) until a worker runs; its pid. */
export async function waitForWorker(root: string, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = workerPid(root);
    if (pid) return pid;
    if (Date.now() > deadline) throw new Error(`no warm worker in ${root} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM the worker (it removes its door) and wait until it is gone. */
export async function stopWorker(root: string): Promise<void> {
  const pid = workerPid(root);
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 600 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
}
