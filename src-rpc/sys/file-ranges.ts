// Big files changed in one place (the users file, the vmailbox map and its cdb when one mailbox
// is added) are read by range, never whole, and written back as ranges of the old file around
// the new bytes, copied through one small buffer. Reading 2.6 MB whole into fresh memory cost a
// cold `user add` ~4 ms, two thirds of it faulting in the pages (a fault is dear in a VM, and a
// router has little memory to spare); a binary search reads a few KiB.
import { closeSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';

/** Bytes `start` to `end` of a file open for reading. */
export interface FileRange {
  readonly fd: number;
  readonly start: number;
  readonly end: number;
}

/** A piece of a file being written: bytes, or a range of another file. */
export type FilePart = Uint8Array | FileRange;

/** Bytes read by range: a buffer's, or an open file's. `part` is a range to write elsewhere. */
export interface ByteSource {
  readonly length: number;
  read(start: number, end: number): Buffer;
  part(start: number, end: number): FilePart;
}

const isRange = (part: FilePart): part is FileRange => !(part instanceof Uint8Array);

export const partLength = (part: FilePart) => (isRange(part) ? part.end - part.start : part.length);

export function bufferSource(bytes: Buffer): ByteSource {
  return { length: bytes.length, read: (start, end) => bytes.subarray(start, end), part: (start, end) => bytes.subarray(start, end) };
}

/** A file descriptor open for reading `path`; null when it does not exist. */
export function openIfExists(path: string): number | null {
  try {
    return openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The file at `path` as a ByteSource, open until `close`; null when it does not exist. */
export function openSource(path: string): (ByteSource & { close(): void }) | null {
  const fd = openIfExists(path);
  if (fd === null) return null;
  let length: number;
  try {
    length = fstatSync(fd).size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    length,
    read: (start, end) => readRange(fd, start, Math.min(end, length)),
    part: (start, end) => ({ fd, start, end }),
    close: () => closeSync(fd),
  };
}

function readRange(fd: number, start: number, end: number): Buffer {
  const bytes = Buffer.allocUnsafe(Math.max(0, end - start));
  for (let at = 0, n; at < bytes.length; at += n) {
    n = readSync(fd, bytes, at, bytes.length - at, start + at);
    if (n === 0) throw new Error(`file shorter than expected (${start + at} of ${end} bytes)`);
  }
  return bytes;
}

/** The part's bytes (a range is read). */
export const partBytes = (part: FilePart): Uint8Array => (isRange(part) ? readRange(part.fd, part.start, part.end) : part);

/** Write the part at fd's offset: a range goes through the scratch buffer, a piece at a time. */
export function writePart(fd: number, part: FilePart): void {
  if (!isRange(part)) return writeFileSync(fd, part);
  const buffer = scratch();
  for (let at = part.start; at < part.end; ) {
    const n = readSync(part.fd, buffer, 0, Math.min(SCRATCH, part.end - at), at);
    if (n === 0) throw new Error(`file shorter than expected (${at} of ${part.end} bytes)`);
    writeFileSync(fd, buffer.subarray(0, n));
    at += n;
  }
}

const SCRATCH = 262_144; // 256 KiB, as a literal: esbuild kept `256 * 1024` in the boot wrapper, which uses none of this
let scratchBuffer: Buffer | undefined;
const scratch = () => (scratchBuffer ??= Buffer.allocUnsafeSlow(SCRATCH));
