// Streaming access to whole directory trees (backups and restores): entries as lstat sees them
// (a link is never followed), file bytes in bounded chunks, files created without following
// anything an attacker could have placed, and SHA-256 while the bytes pass.
import { chmodSync, closeSync, constants, fsyncSync, lchownSync, lstatSync, mkdirSync, openSync, promises as fsPromises, readSync, readdirSync, readlinkSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';

export type TreeEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface TreeEntry {
  /** Path relative to the walked root, `/`-separated, no leading `./`. */
  path: string;
  type: TreeEntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  /** Links only: where it points (never followed). */
  target?: string;
}

const CHUNK = 64 * 1024;

export function lstatEntry(root: string, path: string): TreeEntry | null {
  const st = lstatSync(join(root, path), { throwIfNoEntry: false });
  if (!st) return null;
  const type: TreeEntryType = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
  const entry: TreeEntry = { path, type, size: type === 'file' ? st.size : 0, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
  if (type === 'symlink') entry.target = readlinkSync(join(root, path));
  return entry;
}

/**
 * Every entry below root/path (itself first, then depth first in name order), one directory
 * listing in memory at a time. Entries that vanish while we walk are left out.
 */
export function* walkTree(root: string, path: string): Generator<TreeEntry> {
  const self = lstatEntry(root, path);
  if (!self) return;
  yield self;
  if (self.type !== 'directory') return;
  let names: string[];
  try {
    names = readdirSync(join(root, path)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const name of names) yield* walkTree(root, `${path}/${name}`);
}

export function sha256Hash(): Hash {
  return createHash('sha256');
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Exactly `size` bytes of a regular file, in chunks, without following a link. Fails when the
 * file is no longer a regular file or shorter than `size` (it changed under us).
 */
export async function* readFileChunks(path: string, size: number): AsyncGenerator<Uint8Array> {
  const handle = await fsPromises.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${path} is no longer a regular file`);
    let left = size;
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) throw new Error(`${path} shrank while it was read`);
      left -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** A file's bytes as a web stream (what the age and tar libraries consume). */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  let handle: fsPromises.FileHandle | null = null;
  return new ReadableStream<Uint8Array>({
    async start() {
      handle = await fsPromises.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    },
    async pull(controller) {
      const buffer = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle!.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) {
        await handle!.close();
        controller.close();
      } else {
        controller.enqueue(new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead));
      }
    },
    async cancel() {
      await handle?.close();
    },
  }, { highWaterMark: 2 });
}

/** The first `n` bytes (fewer when the file is shorter). */
export function readFilePrefix(path: string, n: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.alloc(n);
    return buffer.subarray(0, readSync(fd, buffer, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

/** A new file written chunk by chunk; never follows or replaces anything already there. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
  /** fsync, owner, mode and times, close. */
  finish(own?: { mode: number; uid: number; gid: number; mtimeMs: number }): Promise<void>;
  abort(): Promise<void>;
}

export async function createFileSink(path: string, mode = 0o600): Promise<FileSink> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await fsPromises.open(path, flags, mode);
  let open = true;
  return {
    async write(chunk) {
      let done = 0;
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
    },
    async finish(own) {
      if (own) {
        await handle.chown(own.uid, own.gid);
        await handle.chmod(own.mode);
        const t = new Date(own.mtimeMs);
        await handle.utimes(t, t);
      }
      await handle.sync();
      open = false;
      await handle.close();
    },
    async abort() {
      if (open) await handle.close();
      open = false;
      await fsPromises.rm(path, { force: true });
    },
  };
}

/** mkdir of one new directory (its parent exists); owner, mode and times are set by setDirectoryOwnership. */
export function makeDirectory(path: string): void {
  mkdirSync(path, { mode: 0o700 });
}

/** A link exactly as recorded (its target is checked by the caller; it is never followed). */
export function makeSymlink(target: string, path: string, own: { uid: number; gid: number }): void {
  symlinkSync(target, path);
  lchownSync(path, own.uid, own.gid);
}

/** After a directory's contents are in place (a 0500 directory would refuse them earlier). */
export function setOwnership(path: string, own: { mode: number; uid: number; gid: number; mtimeMs: number }): void {
  lchownSync(path, own.uid, own.gid);
  chmodSync(path, own.mode);
  const t = new Date(own.mtimeMs);
  utimesSync(path, t, t);
}

/** fsync a directory so renames inside it survive a power cut. */
export function syncDirectory(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
