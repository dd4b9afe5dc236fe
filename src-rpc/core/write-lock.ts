// One writer at a time across every door and job, served in arrival order.
import { withLockUntil } from '../sys/lock.ts';
import { removeStaleTemps } from '../sys/fs.ts';
import { hostPath } from '../sys/paths.ts';

/**
 * LuCI gives up on a call after 20 s: a writer waits in line at most until 15 s after its call
 * arrived, which leaves the work and the reply 5 s. Waiting longer would only turn a clear
 * `busy` into a timeout the page cannot explain.
 */
const WAIT_FROM_ARRIVAL_MS = 15_000;

/** arrivedAt: when the call arrived (epoch ms); by default now. */
export function withWriteLock<T>(fn: () => Promise<T> | T, arrivedAt = Date.now()): Promise<T> {
  return withLockUntil('write', arrivedAt + WAIT_FROM_ARRIVAL_MS, () => {
    // Temp files left by a writer that was killed: we hold the lock, so none is in use.
    // (The data_path directories are cleaned in dispatch, which knows the layout.)
    removeStaleTemps(hostPath('/etc/config'));
    return fn();
  });
}
