// File primitives with the guarantees the product promises: a write is atomic (temp file,
// fsync, rename, fsync of the directory: at once, or before a write call's commit, sys/undo),
// so a SIGKILL leaves the old or the new bytes.
import { chmodSync, chownSync, closeSync, constants, copyFileSync, existsSync, fchmodSync, fchownSync, fdatasync, fstatSync, fsync, fsyncSync, lchownSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, statfsSync, utimesSync, writeSync } from 'node:fs';
import type { BigIntStats, Stats } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { uniqueSuffix } from './random.ts';
import { openIfExists, partBytes, partLength, writePart, type FilePart } from './file-ranges.ts';
import { keepForUndo, syncDirBeforeCommit } from './undo.ts';

export interface Ownership {
  mode?: number;
  uid?: number;
  gid?: number;
}

const TEMP_MARK = '.tmp-';

/** The disk (or quota) is full: which file could not be written, and how much room is left. */
export class NoSpaceError extends Error {
  // toErrorReply maps errors by name (code "no_space").
  override name = 'NoSpaceError';
}

/** Rethrow a full-disk error as one that names the file and the free space; others unchanged. */
export function noSpaceFor(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return e;
  let free = 'unknown';
  try {
    const st = statfsSync(dirname(path));
    free = `${Math.floor((st.bavail * st.bsize) / 1024)} KiB`;
  } catch {
    // statfs missing (old Node): the file name alone still says where
  }
  return new NoSpaceError(`no space left to write ${path} (${free} free on its filesystem); nothing was changed`);
}

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function readBytes(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/**
 * File contents: text, bytes, or parts written one after the other, never joined: bytes, or ranges
 * of another file (sys/file-ranges), so a line put into a big file costs no copy of it in memory.
 */
export type FileData = string | Uint8Array | readonly FilePart[];

/**
 * Replace `path` with `data` atomically. Returns false (and touches nothing) when the file
 * already holds exactly these bytes with the wanted mode, so converging is cheap and reloads
 * only follow real changes.
 */
export function writeAtomic(path: string, data: FileData, own: Ownership = {}): boolean {
  return write(path, data, own, true);
}

/**
 * writeAtomic for a file that only spares work (a stamp naming other files as they are): replaced
 * atomically and kept for an undo, but neither its bytes nor its rename are flushed. After a power
 * cut it may be the old one, or empty; its readers take either as no hint and do the work.
 */
export function writeHint(path: string, data: FileData, own: Ownership = {}): boolean {
  return write(path, data, own, false);
}

function write(path: string, data: FileData, own: Ownership, durable: boolean): boolean {
  const parts = fileParts(data);
  const length = parts.reduce((n, part) => n + partLength(part), 0);
  const mode = own.mode ?? 0o644;
  const current = statOrNull(path);
  if (current && current.size === length && (current.mode & 0o7777) === mode && ownedAs(current, own)) {
    const old = readBytes(path);
    if (old && old.equals(Buffer.concat(parts.map(partBytes)))) return false;
  }
  const { fd, temp } = writeTemp(path, parts, mode, own);
  try {
    if (durable) fsyncSync(fd);
  } catch (e) {
    rmSync(temp, { force: true });
    throw noSpaceFor(path, e);
  } finally {
    closeSync(fd);
  }
  if (durable) replaceFile(temp, path);
  else {
    keepForUndo(path);
    renameSync(temp, path);
  }
  return true;
}

/** A new version of a file, written beside it and being flushed; see replaceLater. */
export interface Replacement {
  /** Settles once the new bytes are on disk; rejects as writeAtomic would throw. */
  readonly flushed: Promise<void>;
  /** After `flushed`: move the new version over the file, as writeAtomic does. */
  put(): void;
  /** Give up the new version (the file stays as it is). */
  drop(): void;
}

/**
 * writeAtomic in two steps, for a caller with other work meanwhile: the bytes are written now,
 * their flush (the slow part) runs on Node's thread pool while this thread goes on, and put()
 * replaces the file once `flushed` has settled. Always writes (no comparison with the old bytes).
 */
export function replaceLater(path: string, data: FileData, own: Ownership = {}): Replacement {
  const { fd, temp } = writeTemp(path, fileParts(data), own.mode ?? 0o644, own);
  return pendingFlush(path, temp, flushThenClose(fd));
}

/** A new version of a file whose bytes are all written but a few that come later; see replaceLaterFilling. */
export interface UnfilledReplacement {
  /** Write `bytes` over the stand-in at `at` (as long as they are): the replacement, being flushed. */
  fill(at: number, bytes: Uint8Array): Replacement;
  /** Give up the new version (the file stays as it is). */
  drop(): void;
}

/**
 * replaceLater for a new version whose bytes are known but a few, still being made (a password's
 * hash, on another thread): `data` holds a stand-in of their length. Everything is written and
 * flushed now, on the thread pool; fill() puts the real bytes in and flushes again, which then
 * has a page to write, not the file.
 */
export function replaceLaterFilling(path: string, data: FileData, own: Ownership = {}): UnfilledReplacement {
  const { fd, temp } = writeTemp(path, fileParts(data), own.mode ?? 0o644, own);
  const bulk = flushOnPool(fd);
  bulk.catch(() => {}); // seen by fill() or drop(), whenever they come
  let filled = false;
  return {
    fill: (at, bytes) => {
      filled = true;
      // Written once the bulk is flushed: the descriptor is closed after the last flush queued on it.
      const written = bulk.then(() => {
        if (writeSync(fd, bytes, 0, bytes.length, at) !== bytes.length) throw new Error(`short write into ${temp}`);
      });
      return pendingFlush(path, temp, flushThenClose(fd, written));
    },
    drop: () => {
      const closeQuietly = () => {
        try {
          closeSync(fd);
        } catch {
          // nothing was written that matters: the file goes
        }
      };
      // The descriptor outlives the flush queued on it (closed earlier, its number could name another file).
      if (!filled) void bulk.then(closeQuietly, closeQuietly);
      rmSync(temp, { force: true });
    },
  };
}

/** fsync, or fdatasync where the file's size and blocks are flushed already (its times need no flush). */
function flushOnPool(fd: number, dataOnly = false): Promise<void> {
  return new Promise<void>((resolve, reject) => (dataOnly ? fdatasync : fsync)(fd, (e) => (e ? reject(e) : resolve())));
}

/**
 * After `before` (a flush already running, or none), flush `fd` and close it. In a callback a
 * throw would end the process: a failed close fails the flush instead.
 */
async function flushThenClose(fd: number, before?: Promise<void>): Promise<void> {
  let error: unknown;
  try {
    await before;
    // After a flush of the whole file, bytes written over its own: their page alone.
    await flushOnPool(fd, before !== undefined);
  } catch (e) {
    error = e;
  }
  try {
    closeSync(fd);
  } catch (e) {
    error ??= e;
  }
  if (error) throw error;
}

function pendingFlush(path: string, temp: string, flush: Promise<void>): Replacement {
  const flushed = flush.catch((e) => {
    throw noSpaceFor(path, e);
  });
  // A caller that fails before awaiting it drops the file; its failure is not a second one.
  flushed.catch(() => {});
  return { flushed, put: () => replaceFile(temp, path), drop: () => rmSync(temp, { force: true }) };
}

/** A temp file beside `path` holding `parts` with its mode and owner, open; removed again if writing fails. */
function writeTemp(path: string, parts: readonly FilePart[], mode: number, own: Ownership): { fd: number; temp: string } {
  const temp = join(dirname(path), `${TEMP_MARK}${basename(path)}.${uniqueSuffix()}`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    for (const part of parts) writePart(fd, part);
    fchmodSync(fd, mode);
    if (own.uid !== undefined || own.gid !== undefined) fchownSync(fd, own.uid ?? -1, own.gid ?? -1);
    return { fd, temp };
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw noSpaceFor(path, e);
  }
}

const fileParts = (data: FileData): readonly FilePart[] => (typeof data === 'string' ? [Buffer.from(data)] : isParts(data) ? data : [data]);
const isParts = (data: Uint8Array | readonly FilePart[]): data is readonly FilePart[] => Array.isArray(data);

/**
 * An empty file standing for a state outside our files (a kernel table loaded): made or removed
 * at once, never by an undo, which could not undo that state with it.
 */
export function setMark(path: string, present: boolean): void {
  if (!present) rmSync(path, { force: true });
  else if (!existsSync(path)) closeSync(openSync(path, 'a', 0o644));
}

/** Move a complete file over `path` (kept for an undo while a write call runs). */
export function replaceFile(from: string, path: string): void {
  keepForUndo(path);
  renameSync(from, path);
  syncDirBeforeCommit(dirname(path));
}

/** Remove a file (kept for an undo while a write call runs); no error when it is absent. */
export function removeFile(path: string): void {
  if (!existsSync(path)) return;
  keepForUndo(path);
  rmSync(path, { force: true });
}

/** Copy a file (a map database about to be changed on the side); a full disk names it. */
export function copyFile(from: string, to: string): void {
  try {
    copyFileSync(from, to);
  } catch (e) {
    rmSync(to, { force: true });
    throw noSpaceFor(from, e);
  }
}

function ownedAs(st: Stats, own: Ownership): boolean {
  return (own.uid === undefined || st.uid === own.uid) && (own.gid === undefined || st.gid === own.gid);
}

/** Remove temp files a killed writer left behind; call only while holding the write lock. */
export function removeStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(TEMP_MARK)) rmSync(join(dir, name), { force: true });
}

export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Parents `ensureDir` creates: reachable by the daemons below them, whatever the umask. */
const PARENT_MODE = 0o755;

/**
 * mkdir -p with explicit modes: rpcd runs plugins with umask 077, which would make every missing
 * parent 0700 and lock the daemons out of what lies below; then mode and owner of the last one.
 */
export function ensureDir(path: string, own: Ownership = {}): void {
  const missing: string[] = [];
  for (let dir = path; !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing.slice(0, -1)) {
    mkdirSync(dir);
    chmodSync(dir, PARENT_MODE);
  }
  mkdirSync(path, { recursive: true });
  const st = statSync(path);
  const mode = own.mode ?? 0o755;
  if ((st.mode & 0o7777) !== mode) chmodSync(path, mode);
  if (!ownedAs(st, own)) chownSync(path, own.uid ?? -1, own.gid ?? -1);
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

export function rename(from: string, to: string): void {
  renameSync(from, to);
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export function isDirectory(path: string): boolean {
  return statOrNull(path)?.isDirectory() ?? false;
}

/** chown -R (used when adopting a mail tree written with other ids). */
export function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** Total bytes of regular files under path (du for a maildir). */
export function treeSize(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of readdirSync(path)) total += treeSize(join(path, name));
  return total;
}

/** rmdir: fails rather than delete anything still inside. */
export function removeEmptyDir(path: string): void {
  rmdirSync(path);
}

/**
 * Dovecot's passwd-file reloads only when (mtime in whole seconds, size) changed: after a
 * same-size rewrite within the same second, move the new file's mtime one second on.
 */
export function ensureVisibleChange(path: string, before: Stats): void {
  const after = statSync(path);
  const second = (st: Stats) => Math.floor(st.mtimeMs / 1000);
  if (second(after) !== second(before) || after.size !== before.size) return;
  const stamp = new Date((second(before) + 1) * 1000);
  utimesSync(path, stamp, stamp);
}

/** Set a file's times `seconds` into the past. */
export function backdate(path: string, seconds: number): void {
  const t = new Date(Date.now() - seconds * 1000);
  utimesSync(path, t, t);
}

const identityOf = (st: BigIntStats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;

/**
 * Who a file is right now: device, inode, size, mtime and ctime in nanoseconds (null: no file).
 * An atomic replacement changes the inode; any write in place changes ctime, which nobody can set.
 */
export function fileIdentity(path: string): string | null {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? identityOf(st) : null;
}

/**
 * The start of the file at `path` when it is the file `identity` names (fileIdentity), else null:
 * as many bytes as `bytes` asks for, given the file's size.
 */
export function readHeadOf(path: string, identity: string, bytes: (size: number) => number): Buffer | null {
  const fd = openIfExists(path);
  if (fd === null) return null;
  try {
    // The identity of the open file: one replaced after the check cannot be read in its place.
    const st = fstatSync(fd, { bigint: true });
    if (identityOf(st) !== identity) return null;
    const wanted = Math.min(Number(st.size), bytes(Number(st.size)));
    const head = Buffer.allocUnsafe(wanted);
    let length = 0;
    while (length < wanted) {
      const n = readSync(fd, head, length, wanted - length, length);
      if (n === 0) break;
      length += n;
    }
    return head.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
