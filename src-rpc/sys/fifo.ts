// Named pipes and process liveness for the warm plugin path: what a busybox-ash front and a Node
// worker can both speak (OpenWrt's busybox nc has no Unix sockets; FIFOs exist everywhere).
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { run } from './spawn.ts';

/** A FIFO only root can open (Node has no mkfifo of its own). */
export function makeFifo(path: string): void {
  const r = run(['mkfifo', '-m', '600', path]);
  if (r.code !== 0) throw new Error(`mkfifo ${path}: ${r.stderr.trim()}`);
}

/**
 * Read a FIFO line by line for as long as this process lives. Opened read-write, so the open
 * never blocks and the last writer going away is not an end of file.
 */
export function readFifoLines(path: string, onLine: (line: string) => void): void {
  const fd = openSync(path, constants.O_RDWR);
  const stream = new Socket({ fd, readable: true, writable: false });
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
}

/** One short line into a FIFO whose reader may be gone: never blocks, never throws. */
export function tellFifo(path: string, line: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false; // no reader (ENXIO) or no FIFO any more: the caller was killed
  }
  try {
    writeSync(fd, `${line}\n`);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** A descriptor to read a call's arguments from (null: the file is gone with its caller). */
export function openToRead(path: string): number | null {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
}

export function closeFd(fd: number): void {
  closeSync(fd);
}

/** A reply only root may read; no fsync: it lives in /var/run and is read once at once. */
export function writePrivate(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
