// Maildirs on disk: <mail>/<domain>/<user>/{cur,new,tmp}, owned by the mail uid/gid.
import { join } from 'node:path';
import { ensureDir, removeTree } from '../sys/fs.ts';
import { MAIL_UID, MAIL_GID, type Layout } from '../runtime/layout.ts';

export function maildirPath(l: Layout, email: string): string {
  const at = email.lastIndexOf('@');
  return join(l.mailDir, email.slice(at + 1), email.slice(0, at));
}

export function createMaildir(l: Layout, email: string): void {
  const own = { mode: 0o700, uid: MAIL_UID, gid: MAIL_GID };
  ensureDir(l.mailDir, own);
  const dir = maildirPath(l, email);
  ensureDir(join(dir, '..'), own);
  ensureDir(dir, own);
  for (const sub of ['cur', 'new', 'tmp']) ensureDir(join(dir, sub), own);
}

export function purgeMaildir(l: Layout, email: string): void {
  removeTree(maildirPath(l, email));
}
