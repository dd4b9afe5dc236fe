// Remove a file that may already be gone. fs.rmSync({ force }) would lstat it first and go
// through its tree-removal code: the lock and the undo log's commit remove several files per call.
import { unlinkSync } from 'node:fs';

export function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
