// One writer at a time across every door and job.
import { withLock } from '../sys/lock.ts';
import { removeStaleTemps } from '../sys/fs.ts';
import { hostPath } from '../sys/paths.ts';

/** LuCI gives up after 20 s; waiting longer for the lock would only hide the failure. */
const LOCK_WAIT_MS = 15_000;

export function withWriteLock<T>(fn: () => Promise<T> | T): Promise<T> {
  return withLock('write', LOCK_WAIT_MS, () => {
    // Temp files left by a writer that was killed: we hold the lock, so none is in use.
    // (The data_path directories are cleaned in dispatch, which knows the layout.)
    removeStaleTemps(hostPath('/etc/config'));
    return fn();
  });
}
