// The local backup files in data_path/backups: listing, lookup by name, and retention (mesh.keep).
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { listDir, removeTree, statOrNull } from '../sys/fs.ts';
import { BACKUP_FILE_PATTERN, BACKUP_STAMP, DATA_FOLDERS } from './format.ts';
import type { Layout } from '../core/layout.ts';

export const backupsDir = (l: Layout) => join(l.dataPath, 'backups');

const STAMP_IN_NAME = new RegExp(String.raw`-(${BACKUP_STAMP})\.tar`);
const stampOf = (name: string) => STAMP_IN_NAME.exec(name)?.[1] ?? '';
const dateOf = (stamp: string) => stamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\.\d{3})?Z$/, '$1-$2-$3T$4:$5:$6$7Z');

/** Oldest first. */
function backupNames(l: Layout): string[] {
  return listDir(backupsDir(l))
    .filter((n) => BACKUP_FILE_PATTERN.test(n))
    .sort((a, b) => stampOf(a).localeCompare(stampOf(b)));
}

export function listBackups(l: Layout) {
  return backupNames(l)
    .reverse()
    .flatMap((name) => {
      const st = statOrNull(join(backupsDir(l), name));
      return st ? [{ name, file: join(backupsDir(l), name), bytes: st.size, created: dateOf(stampOf(name)), encrypted: name.endsWith('.age') }] : [];
    });
}

/** What a restore replaces (and keeps in restore-previous-<time>/ for --undo). */
export const replacedByRestore = (l: Layout) => [...DATA_FOLDERS.map((f) => join(l.dataPath, f)), l.uciFile];

/** A bare name means a file in data_path/backups; anything else must be an absolute path. */
export function resolveBackupFile(l: Layout, file: string): string {
  if (file.startsWith('/')) return file;
  if (!BACKUP_FILE_PATTERN.test(file)) throw new MailError('invalid_argument', 'must be an absolute path or the name of a backup in data_path/backups (see `mailctl mesh backups`)', 'file');
  return join(backupsDir(l), file);
}

/** Keep the newest `keep`; returns what was removed. */
export function applyRetention(l: Layout, keep: number): string[] {
  const names = backupNames(l);
  const old = names.slice(0, Math.max(0, names.length - keep));
  for (const name of old) removeTree(join(backupsDir(l), name));
  return old.map((n) => join(backupsDir(l), n));
}
