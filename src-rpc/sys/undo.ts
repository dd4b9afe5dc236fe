// All-or-nothing writes across files. While a write call runs, each file it replaces keeps its
// previous version as a hard link (no extra space on a full disk), and an undo log names it
// before the change is made. The call either finishes — removing the log is the commit — or is
// undone: at once when it fails (a full disk), or by the next writer (which holds the lock)
// when it was SIGKILLed. So UCI, the store, the maps and the mail tree are all old or all new.
//
// Why an undo log rather than a redo log: the code that changes files keeps running as it is
// (it reads what it just wrote, postmap reads its sources), and undoing needs no free space.
import { closeSync, constants, existsSync, fdatasyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from './random.ts';
import { syncDir } from './sync-dir.ts';
import { unlinkIfPresent } from './unlink.ts';

type Entry = { file: string; backup: string | null } | { dir: string };

interface Undo {
  log: string;
  fd: number;
  entries: Entry[];
  seen: Set<string>;
  /** Directories whose renames must be on disk before the commit. */
  unsynced: Set<string>;
}

let current: Undo | null = null;

/** Names a sweep of temp files (`.tmp-`) removes once nothing refers to them. */
const backupName = (path: string) => join(dirname(path), `.tmp-undo-${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`);

function record(...entries: Entry[]): void {
  const u = current!;
  // On disk before the changes they undo: a SIGKILL right after still finds them.
  writeSync(u.fd, entries.map((e) => JSON.stringify(e) + '\n').join(''));
  fdatasyncSync(u.fd);
  u.entries.push(...entries);
}

/** Put back what the entries changed, last change first. Each step can be repeated. */
function undo(entries: Entry[]): void {
  for (const e of [...entries].reverse()) {
    if ('dir' in e) {
      rmSync(e.dir, { recursive: true, force: true });
    } else if (e.backup === null) {
      rmSync(e.file, { force: true });
    } else if (existsSync(e.backup)) {
      renameSync(e.backup, e.file);
      // A file named for undo but not replaced yet is the backup's own inode: rename(2) then
      // changes nothing and leaves both names.
      rmSync(e.backup, { force: true });
      syncDir(dirname(e.file));
    }
  }
}

function readLog(log: string): Entry[] {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  // A torn last line was being written when the process died: its change was not made yet.
  return text.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Entry];
    } catch {
      return [];
    }
  });
}

/**
 * Undo what a killed writer left half done. Call while holding the write lock, before anything
 * else (and before sweeping temp files: the backups are among them).
 */
export function recoverUndo(log: string): boolean {
  if (!existsSync(log)) return false;
  undo(readLog(log));
  rmSync(log, { force: true });
  syncDir(dirname(log));
  return true;
}

/** Start recording (under the write lock). */
export function beginUndo(log: string): void {
  recoverUndo(log);
  const fd = openSync(log, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  syncDir(dirname(log));
  current = { log, fd, entries: [], seen: new Set(), unsynced: new Set() };
}

/**
 * Make a rename or removal in `dir` durable: at once, or, while a call records its undo, once
 * before its commit (a crash before the commit undoes the change anyway). A call replacing
 * three files of one directory then flushes it once.
 */
export function syncDirBeforeCommit(dir: string): void {
  if (current) current.unsynced.add(dir);
  else syncDir(dir);
}

/** Keep every change: removing the log is the commit point; the backups go afterwards. False when nothing was recording. */
export function commitUndo(): boolean {
  const u = current;
  if (!u) return false;
  current = null;
  closeSync(u.fd);
  for (const dir of u.unsynced) syncDir(dir);
  unlinkIfPresent(u.log);
  syncDir(dirname(u.log));
  for (const e of u.entries) if ('file' in e && e.backup) unlinkIfPresent(e.backup);
  return true;
}

/** Put every file back as it was when the call began. */
export function rollbackUndo(): void {
  const u = current;
  if (!u) return;
  current = null;
  closeSync(u.fd);
  undo(u.entries);
  rmSync(u.log, { force: true });
  syncDir(dirname(u.log));
}

/**
 * Before `paths` (files) are replaced or removed: keep their current versions for an undo.
 * Naming all the files a step replaces at once costs one flush of the log, not one each.
 */
export function keepForUndo(...paths: string[]): void {
  const u = current;
  if (!u) return;
  const entries: Entry[] = [];
  for (const path of paths) {
    if (u.seen.has(path)) continue;
    u.seen.add(path);
    let backup: string | null = backupName(path);
    try {
      linkSync(path, backup);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      backup = null; // a new file: undone by removing it
    }
    entries.push({ file: path, backup });
  }
  if (entries.length) record(...entries);
}

/** A directory this call created (a new maildir): undone by removing it with its contents. */
export function createdForUndo(dir: string): void {
  if (current) record({ dir });
}
