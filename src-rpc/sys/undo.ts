// All-or-nothing writes across files. While a write call runs, each file it replaces keeps its
// previous version as a hard link (no extra space on a full disk), and an undo log names it
// before the change is made. The call either finishes — removing the log is the commit — or is
// undone: at once when it fails (a full disk), or by the next writer (which holds the lock)
// when it was SIGKILLed. So UCI, the store, the maps and the mail tree are all old or all new.
//
// Why an undo log rather than a redo log: the code that changes files keeps running as it is
// (it reads what it just wrote, postmap reads its sources), and undoing needs no free space.
import * as fs from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from './random.ts';
import { syncDir } from './sync-dir.ts';

type Entry = { file: string; backup: string | null } | { dir: string };

interface Undo {
  log: string;
  fd: number;
  entries: Entry[];
  seen: Set<string>;
}

let current: Undo | null = null;

/** Names a sweep of temp files (`.tmp-`) removes once nothing refers to them. */
const backupName = (path: string) => join(dirname(path), `.tmp-undo-${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`);

function record(entry: Entry): void {
  const u = current!;
  // On disk before the change it undoes: a SIGKILL right after still finds it.
  fs.writeSync(u.fd, JSON.stringify(entry) + '\n');
  fs.fdatasyncSync(u.fd);
  u.entries.push(entry);
}

/** Put back what the entries changed, last change first. Each step can be repeated. */
function undo(entries: Entry[]): void {
  for (const e of [...entries].reverse()) {
    if ('dir' in e) {
      fs.rmSync(e.dir, { recursive: true, force: true });
    } else if (e.backup === null) {
      fs.rmSync(e.file, { force: true });
    } else if (fs.existsSync(e.backup)) {
      fs.renameSync(e.backup, e.file);
      syncDir(dirname(e.file));
    }
  }
}

function readLog(log: string): Entry[] {
  let text: string;
  try {
    text = fs.readFileSync(log, 'utf8');
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
  if (!fs.existsSync(log)) return false;
  undo(readLog(log));
  fs.rmSync(log, { force: true });
  syncDir(dirname(log));
  return true;
}

/** Start recording (under the write lock). */
export function beginUndo(log: string): void {
  recoverUndo(log);
  const fd = fs.openSync(log, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  syncDir(dirname(log));
  current = { log, fd, entries: [], seen: new Set() };
}

/** Keep every change: removing the log is the commit point; the backups go afterwards. False when nothing was recording. */
export function commitUndo(): boolean {
  const u = current;
  if (!u) return false;
  current = null;
  fs.closeSync(u.fd);
  fs.rmSync(u.log, { force: true });
  syncDir(dirname(u.log));
  for (const e of u.entries) if ('file' in e && e.backup) fs.rmSync(e.backup, { force: true });
  return true;
}

/** Put every file back as it was when the call began. */
export function rollbackUndo(): void {
  const u = current;
  if (!u) return;
  current = null;
  fs.closeSync(u.fd);
  undo(u.entries);
  fs.rmSync(u.log, { force: true });
  syncDir(dirname(u.log));
}

/** Before `path` (a file) is replaced or removed: keep its current version for an undo. */
export function keepForUndo(path: string): void {
  if (!current || current.seen.has(path)) return;
  current.seen.add(path);
  let backup: string | null = backupName(path);
  try {
    fs.linkSync(path, backup);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    backup = null; // a new file: undone by removing it
  }
  record({ file: path, backup });
}

/** A directory this call created (a new maildir): undone by removing it with its contents. */
export function createdForUndo(dir: string): void {
  if (current) record({ dir });
}
