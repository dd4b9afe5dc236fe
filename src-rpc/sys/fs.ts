// File primitives with the guarantees the product promises: a write is atomic (temp file,
// fsync, rename, fsync of the directory), so a SIGKILL leaves the old or the new bytes.
import * as fs from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface Ownership {
  mode?: number;
  uid?: number;
  gid?: number;
}

const TEMP_MARK = '.tmp-';

export function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function readBytes(path: string): Buffer | null {
  try {
    return fs.readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function exists(path: string): boolean {
  return fs.existsSync(path);
}

/**
 * Replace `path` with `data` atomically. Returns false (and touches nothing) when the file
 * already holds exactly these bytes with the wanted mode, so converging is cheap and reloads
 * only follow real changes.
 */
export function writeAtomic(path: string, data: string | Buffer, own: Ownership = {}): boolean {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const mode = own.mode ?? 0o644;
  const current = statOrNull(path);
  if (current && (current.mode & 0o7777) === mode && ownedAs(current, own)) {
    const old = readBytes(path);
    if (old && old.equals(bytes)) return false;
  }
  const dir = dirname(path);
  const temp = join(dir, `${TEMP_MARK}${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.writeFileSync(fd, bytes);
    fs.fchmodSync(fd, mode);
    if (own.uid !== undefined || own.gid !== undefined) fs.fchownSync(fd, own.uid ?? -1, own.gid ?? -1);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(temp, path);
  syncDir(dir);
  return true;
}

function ownedAs(st: fs.Stats, own: Ownership): boolean {
  return (own.uid === undefined || st.uid === own.uid) && (own.gid === undefined || st.gid === own.gid);
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Remove temp files a killed writer left behind; call only while holding the write lock. */
export function removeStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(TEMP_MARK)) fs.rmSync(join(dir, name), { force: true });
}

export function statOrNull(path: string): fs.Stats | null {
  try {
    return fs.statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** mkdir -p, then force mode and owner on the last component (umask 077 under rpcd). */
export function ensureDir(path: string, own: Ownership = {}): void {
  fs.mkdirSync(path, { recursive: true });
  const st = fs.statSync(path);
  const mode = own.mode ?? 0o755;
  if ((st.mode & 0o7777) !== mode) fs.chmodSync(path, mode);
  if (!ownedAs(st, own)) fs.chownSync(path, own.uid ?? -1, own.gid ?? -1);
}

export function removeTree(path: string): void {
  fs.rmSync(path, { recursive: true, force: true });
}

export function rename(from: string, to: string): void {
  fs.renameSync(from, to);
}

export function listDir(path: string): string[] {
  try {
    return fs.readdirSync(path);
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
  fs.lchownSync(path, uid, gid);
  if (!fs.lstatSync(path).isDirectory()) return;
  for (const name of fs.readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** Total bytes of regular files under path (du for a maildir). */
export function treeSize(path: string): number {
  const st = fs.lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of fs.readdirSync(path)) total += treeSize(join(path, name));
  return total;
}

/** rmdir: fails rather than delete anything still inside. */
export function removeEmptyDir(path: string): void {
  fs.rmdirSync(path);
}

/**
 * Dovecot's passwd-file reloads only when (mtime in whole seconds, size) changed: after a
 * same-size rewrite within the same second, move the new file's mtime one second on.
 */
export function ensureVisibleChange(path: string, before: fs.Stats): void {
  const after = fs.statSync(path);
  const second = (st: fs.Stats) => Math.floor(st.mtimeMs / 1000);
  if (second(after) !== second(before) || after.size !== before.size) return;
  const stamp = new Date((second(before) + 1) * 1000);
  fs.utimesSync(path, stamp, stamp);
}

/** Set a file's times `seconds` into the past. */
export function backdate(path: string, seconds: number): void {
  const t = new Date(Date.now() - seconds * 1000);
  fs.utimesSync(path, t, t);
}

/**
 * Who a file is right now: device, inode, size, mtime and ctime in nanoseconds (null: no file).
 * An atomic replacement changes the inode; any write in place changes ctime, which nobody can set.
 */
export function fileIdentity(path: string): string | null {
  const st = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : null;
}
