// From SecuBox's shell mailctl layout to ours: users lines with uid/gid/home fields become
// bare hash lines, <user>/Maildir/* moves up into <user>/, and the mail tree gets uid 5000.
// Every step is a rename within one filesystem, so a re-run after a crash picks up where it
// stopped and no message is ever copied half-way.
import { join } from 'node:path';
import { listDir, isDirectory, rename, exists, chownTree, removeEmptyDir } from '../sys/fs.ts';
import { detectLegacy, loadAccounts, saveMailboxes, saveAliases, markFormat } from './files.ts';
import { MAIL_UID, MAIL_GID } from '../core/layout.ts';
import type { Context } from '../core/context.ts';

export function migrate(ctx: Context): { migrated: boolean; mailboxes: number; maildirsMoved: number } {
  const l = ctx.layout;
  if (!detectLegacy(l)) return { migrated: false, mailboxes: 0, maildirsMoved: 0 };
  let maildirsMoved = 0;
  for (const domain of listDir(l.mailDir)) {
    for (const user of listDir(join(l.mailDir, domain))) {
      const home = join(l.mailDir, domain, user);
      const legacy = join(home, 'Maildir');
      if (!isDirectory(legacy)) continue;
      mergeInto(legacy, home);
      removeEmptyDir(legacy);
      maildirsMoved++;
    }
  }
  if (exists(l.mailDir)) chownTree(l.mailDir, MAIL_UID, MAIL_GID);
  // parseUsers keeps only email, hash and quota: rewriting drops the legacy uid/gid/home.
  const accounts = loadAccounts(l);
  saveAliases(l, accounts.aliases);
  saveMailboxes(l, accounts.mailboxes);
  markFormat(l);
  return { migrated: true, mailboxes: accounts.mailboxes.size, maildirsMoved };
}

/** Move every entry of `from` into `to`; directories that exist on both sides merge. */
function mergeInto(from: string, to: string): void {
  for (const name of listDir(from)) {
    const source = join(from, name);
    const target = join(to, name);
    if (isDirectory(source) && isDirectory(target)) {
      mergeInto(source, target);
      removeEmptyDir(source);
    } else if (!exists(target)) {
      rename(source, target);
    } else {
      // Same file name on both sides cannot happen for maildir messages (unique names);
      // keep both rather than overwrite.
      rename(source, `${target}.migrated`);
    }
  }
}
