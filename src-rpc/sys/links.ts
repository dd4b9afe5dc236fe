// Symbolic links, replaced atomically: a new link is made under a temp name and renamed over the
// old one, so a reader sees the old target or the new one, never neither.
import { closeSync, fsyncSync, lstatSync, openSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { uniqueSuffix } from './random.ts';

export function readLink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL') return null;
    throw e;
  }
}

/** Point `path` at `target` (relative to path's directory); returns false when it already does. */
export function replaceSymlink(target: string, path: string): boolean {
  if (readLink(path) === target) return false;
  const dir = dirname(path);
  // Same ".tmp-" mark as sys/fs.ts writeAtomic, so removeStaleTemps cleans up after a kill.
  const temp = join(dir, `.tmp-${basename(path)}.${uniqueSuffix()}`);
  symlinkSync(target, temp);
  renameSync(temp, path);
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

export function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
