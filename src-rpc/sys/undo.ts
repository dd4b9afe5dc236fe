// All-or-nothing writes across files. While a write call runs, each file it replaces keeps its
// previous version as a hard link (no extra space on a full disk), and an undo log names it
// before the change is made. The call either finishes — emptying the log is the commit — or is
// undone: at once when it fails (a full disk), or by the next writer (which holds the lock)
// when it was SIGKILLed. So UCI, the store, the maps and the mail tree are all old or all new.
// The log is made by the first call that records a change, and stays between calls, empty:
// emptying it (ftruncate, fdatasync) is one flush where removing it was a flush of its directory,
// and making it again at the next call another.
//
// Why an undo log rather than a redo log: the code that changes files keeps running as it is
// (it reads what it just wrote, postmap reads its sources), and undoing needs no free space.
import { closeSync, constants, existsSync, fdatasyncSync, ftruncateSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { uniqueSuffix } from './random.ts';
import { syncDir } from './sync-dir.ts';
import { unlinkIfPresent } from './unlink.ts';

type Entry = { file: string; backup: string | null } | { dir: string };

interface Undo {
  log: string;
  /** The log, open for appending records once the first is made (null before). */
  fd: number | null;
  entries: Entry[];
  seen: Set<string>;
  /** Directories whose renames must be on disk before the commit. */
  unsynced: Set<string>;
}

let current: Undo | null = null;

/** Backups of committed calls, not removed yet (see deferBackupRemoval). */
let committedBackups: string[] = [];
let deferRemoval = false;

/** Names a sweep of temp files (`.tmp-`) removes once nothing refers to them. */
const backupName = (path: string) => join(dirname(path), `.tmp-undo-${basename(path)}.${uniqueSuffix()}`);

function record(...entries: Entry[]): void {
  if (!entries.length) return;
  const u = current!;
  u.fd ??= openLog(u.log);
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

/** What the log names, in order; [] when it is absent or empty (no call was cut short). */
function readLog(log: string): { entries: Entry[]; written: boolean } {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return { entries: [], written: false };
  }
  // A torn last line was being written when the process died: its change was not made yet.
  const entries = text.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Entry];
    } catch {
      return [];
    }
  });
  return { entries, written: text !== '' };
}

/** The log emptied on disk: what it named is kept (a commit) or was put back (an undo). */
function emptyLog(fd: number): void {
  ftruncateSync(fd, 0);
  fdatasyncSync(fd);
}

/** A write call was cut short and its changes are not undone yet. */
export function undoPending(log: string): boolean {
  try {
    return statSync(log).size > 0;
  } catch {
    return false;
  }
}

/**
 * Undo what a killed writer left half done, and empty its log. Call while holding the write lock,
 * before anything else (and before sweeping temp files: the backups are among them).
 */
function recover(log: string): void {
  const { entries, written } = readLog(log);
  if (!written) return;
  const fd = openSync(log, constants.O_WRONLY);
  try {
    undo(entries);
    emptyLog(fd);
  } finally {
    closeSync(fd);
  }
}

/** The log open for appending, made when absent: then found after a power cut before any change it names is made. */
function openLog(log: string): number {
  const made = !existsSync(log);
  const fd = openSync(log, constants.O_WRONLY | constants.O_CREAT, 0o600);
  try {
    if (made) syncDir(dirname(log));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** Start recording (under the write lock). */
export function beginUndo(log: string): void {
  recover(log);
  current = { log, fd: null, entries: [], seen: new Set(), unsynced: new Set() };
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

/** Keep every change: emptying the log is the commit point; the backups go afterwards. False when nothing was recording. */
export function commitUndo(): boolean {
  const u = current;
  if (!u) return false;
  current = null;
  try {
    for (const dir of u.unsynced) syncDir(dir);
    if (u.fd !== null) emptyLog(u.fd);
  } finally {
    if (u.fd !== null) closeSync(u.fd);
  }
  for (const e of u.entries) if ('file' in e && e.backup) committedBackups.push(e.backup);
  if (!deferRemoval) removeCommittedBackups();
  return true;
}

/**
 * From now on commits leave their backups for removeCommittedBackups: the warm worker removes
 * them after it has replied. Freeing a replaced file's blocks is the kernel's slowest step of a
 * commit (the users file of 10 000 mailboxes: up to ~1 ms per backup on ext4), and nothing waits
 * on it: once the log is empty a backup is garbage, a `.tmp-` file like any a kill leaves.
 */
export function deferBackupRemoval(): void {
  deferRemoval = true;
}

/** Best effort: the change is kept already, and a backup left behind is only a temp file. */
export function removeCommittedBackups(): void {
  const backups = committedBackups;
  committedBackups = [];
  for (const backup of backups) {
    try {
      unlinkIfPresent(backup);
    } catch {
      // left for the temp-file sweeps
    }
  }
}

/** Put every file back as it was when the call began. */
export function rollbackUndo(): void {
  const u = current;
  if (!u) return;
  current = null;
  try {
    undo(u.entries);
    if (u.fd !== null) emptyLog(u.fd);
  } finally {
    if (u.fd !== null) closeSync(u.fd);
  }
}

/**
 * Before `paths` (files) are replaced or removed: keep their current versions for an undo.
 * Naming all the files a step replaces at once costs one flush of the log, not one each.
 */
export function keepForUndo(...paths: string[]): void {
  if (current) record(...backups(current, paths));
}

/**
 * A directory this call is about to create (a new maildir): undone by removing it with its
 * contents. Files the same step replaces may be named with it (see keepForUndo): one flush.
 */
export function createdForUndo(dir: string, ...paths: string[]): void {
  if (current) record({ dir }, ...backups(current, paths));
}

/** Entries keeping the files not kept yet, each as a hard link (none for a file that does not exist yet). */
function backups(u: Undo, paths: string[]): Entry[] {
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
  return entries;
}
