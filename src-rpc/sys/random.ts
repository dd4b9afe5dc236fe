// Random bytes from the kernel (/dev/urandom, as getrandom(2) without flags): node:crypto's
// randomBytes would load the module and its streams (~6 ms of a cold call) for a temporary
// file's name or a salt.
import { closeSync, openSync, readSync } from 'node:fs';

export function randomBytes(n: number): Buffer {
  const bytes = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let at = 0; at < n; ) {
      const read = readSync(fd, bytes, at, n - at, null);
      if (read === 0) throw new Error('/dev/urandom gave no bytes');
      at += read;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

let tag: string | undefined;
let made = 0;

/**
 * A part for temp and backup file names that no other name of ours has: this process's pid, a
 * random tag (against a leftover of an earlier process with the same pid) read once, and a count.
 * One read of /dev/urandom per process, not one per name (a `user add` names eight files).
 */
export function uniqueSuffix(): string {
  tag ??= randomBytes(4).toString('hex');
  return `${process.pid}.${tag}${(made++).toString(36)}`;
}
