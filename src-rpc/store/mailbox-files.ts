// Maildirs on disk: <mail>/<domain>/<user>/{cur,new,tmp}, owned by the mail uid/gid.
import { join } from 'node:path';
import { ensureDir, removeTree, listDir, isDirectory, statOrNull, exists } from '../sys/fs.ts';
import { createdForUndo } from '../sys/undo.ts';
import { MAIL_UID, MAIL_GID, type Layout } from '../core/layout.ts';

export function maildirPath(l: Layout, email: string): string {
  const at = email.lastIndexOf('@');
  return join(l.mailDir, email.slice(at + 1), email.slice(0, at));
}

export function createMaildir(l: Layout, email: string): void {
  const own = { mode: 0o700, uid: MAIL_UID, gid: MAIL_GID };
  ensureDir(l.mailDir, own);
  const dir = maildirPath(l, email);
  // A user add that fails later (a full disk) or is killed leaves no maildir behind.
  const fresh = [join(dir, '..'), dir].find((d) => !exists(d));
  if (fresh) createdForUndo(fresh);
  ensureDir(join(dir, '..'), own);
  ensureDir(dir, own);
  for (const sub of ['cur', 'new', 'tmp']) ensureDir(join(dir, sub), own);
}

export function purgeMaildir(l: Layout, email: string): void {
  removeTree(maildirPath(l, email));
}

/** Dovecot names a message `<base>,S=<size>[,W=<vsize>]:2,<flags>`: its size without a stat. */
export function messageSize(name: string): number | null {
  const info = name.indexOf(':');
  const m = /,S=(\d+)/.exec(info < 0 ? name : name.slice(0, info));
  return m ? Number(m[1]) : null;
}

/**
 * Bytes of the messages in a mailbox: cur/ and new/ of INBOX and of every Maildir++ folder
 * (.Name/). One readdir per directory; a stat only for a file without S= (delivered by
 * something other than Dovecot). A message Dovecot moves meanwhile may be missed: it is a
 * figure for people, not the quota Dovecot enforces.
 */
export function maildirUsage(l: Layout, email: string): number {
  const dir = maildirPath(l, email);
  const folders = [dir, ...listDir(dir).filter((n) => n.startsWith('.') && isDirectory(join(dir, n))).map((n) => join(dir, n))];
  let total = 0;
  for (const folder of folders) {
    for (const sub of ['cur', 'new']) {
      const path = join(folder, sub);
      for (const name of listDir(path)) total += messageSize(name) ?? statOrNull(join(path, name))?.size ?? 0;
    }
  }
  return total;
}
