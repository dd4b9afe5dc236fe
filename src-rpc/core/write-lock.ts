// One writer at a time across every door and job, served in arrival order; each write call is
// all-or-nothing across every file it touches (sys/undo.ts).
import { withLockUntil } from '../sys/lock.ts';
import { beginUndo, commitUndo, removeCommittedBackups, rollbackUndo, undoPending } from '../sys/undo.ts';
import { removeStaleTemps } from '../sys/fs.ts';
import { hostPath } from '../sys/paths.ts';

/**
 * LuCI gives up on a call after 20 s: a writer waits in line at most until 15 s after its call
 * arrived, which leaves the work and the reply 5 s. Waiting longer would only turn a clear
 * `busy` into a timeout the page cannot explain.
 */
const WAIT_FROM_ARRIVAL_MS = 15_000;

/** Beside the UCI file, on persistent storage: a power cut mid-write is undone at the next call. */
const undoLog = () => hostPath('/etc/config/.mailserver.undo');

/**
 * Run a write: the changes it makes are kept when it returns and undone when it throws (or, if
 * it is killed, by the next writer). arrivedAt: when the call arrived (epoch ms); default now.
 */
export function withWriteLock<T>(fn: () => Promise<T> | T, arrivedAt = Date.now()): Promise<T> {
  return withLockUntil('write', arrivedAt + WAIT_FROM_ARRIVAL_MS, async () => {
    // First undo what a killed writer left, then sweep temp files (its backups among them):
    // we hold the lock, so none is in use. (dispatch cleans the data_path directories.)
    beginUndo(undoLog());
    removeStaleTemps(hostPath('/etc/config'));
    try {
      const result = await fn();
      commitUndo();
      return result;
    } catch (e) {
      rollbackUndo();
      throw e;
    }
  });
}

/**
 * Keep what the running write changed so far (before starting daemons on those files: a later
 * failure to start must not take their configuration away).
 */
export function keepChangesSoFar(): void {
  if (!commitUndo()) return;
  // The call goes on writing: the old versions give their room back now, not after the reply.
  removeCommittedBackups();
  beginUndo(undoLog());
}

/** A reader arriving after a writer was killed waits for the undo, so it sees old or new state. */
export async function settleInterruptedWrite(): Promise<void> {
  if (undoPending(undoLog())) await withWriteLock(() => undefined);
}
