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
