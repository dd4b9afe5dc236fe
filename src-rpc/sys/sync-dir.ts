// A rename or unlink is durable once its directory is flushed (after a power cut too).
import { openSync, fsyncSync, closeSync } from 'node:fs';

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
