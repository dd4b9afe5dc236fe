// Pipes for the warm plugin path: what a busybox-ash front and a Node worker can both speak
// (OpenWrt's busybox nc has no Unix sockets; FIFOs and /proc exist everywhere).
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { run } from './spawn.ts';
import { procStat } from './proc.ts';

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

/**
 * The pipe a front waits on for its answer: fd 4 of its subshell `waiter` (a child of `front`),
 * opened through /proc (fd 4, not its stdout, which is the door while it writes its line there).
 * The subshell is then killed (SIGKILL: rpcd may start its plugins with other signals ignored),
 * so the pipe ends when this descriptor is closed, or when this process dies. null when that
 * subshell is gone or is no child of `front` (the front was killed: its subshell went to init).
 */
export function openAnswerPipe(waiter: number, front: number): number | null {
  if (procStat(waiter)?.[1] !== String(front)) return null;
  let fd: number;
  try {
    fd = openSync(`/proc/${waiter}/fd/4`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    return null;
  }
  try {
    process.kill(waiter, 'SIGKILL');
  } catch {
    // it ended meanwhile
  }
  return fd;
}

/** One short line into an answer pipe whose reader may be gone: never blocks, never throws. */
export function tellPipe(fd: number, line: string): boolean {
  try {
    writeSync(fd, `${line}\n`);
    return true;
  } catch {
    return false;
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
