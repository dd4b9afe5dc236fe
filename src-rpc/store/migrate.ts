// From SecuBox's shell mailctl layout to ours: users lines with uid/gid/home fields become
// bare hash lines, <user>/Maildir/* moves up into <user>/, and the mail tree gets uid 5000.
// Every step is a rename within one filesystem, so a re-run after a crash picks up where it
// stopped and no message is ever copied half-way. The tree belongs to the mail uid: it is
// walked without following links (sys/nofollow), and one planted anywhere stops the migration
// before anything moves.
import { basename, dirname } from 'node:path';
import { openBelow, withDir, type OpenDir } from '../sys/nofollow.ts';
import { detectLegacy, loadAccounts, saveMailboxes, saveAliases, markFormat } from './files.ts';
import { refusingLinks } from './mailbox-files.ts';
import { MAIL_UID, MAIL_GID } from '../core/layout.ts';
import { MailError } from '../core/errors.ts';
import type { Context } from '../core/context.ts';

export function migrate(ctx: Context): { migrated: boolean; mailboxes: number; maildirsMoved: number } {
  const l = ctx.layout;
  if (!detectLegacy(l)) return { migrated: false, mailboxes: 0, maildirsMoved: 0 };
  const maildirsMoved = refusingLinks(() => {
    const mail = openBelow(dirname(l.mailDir), [basename(l.mailDir)]);
    return mail ? withDir(mail, moveLegacyMaildirs) : 0;
  });
  // parseUsers keeps only email, hash and quota: rewriting drops the legacy uid/gid/home.
  const accounts = loadAccounts(l);
  saveAliases(l, accounts.aliases);
  saveMailboxes(l, accounts.mailboxes);
  markFormat(l);
  return { migrated: true, mailboxes: accounts.mailboxes.size, maildirsMoved };
}

/** <domain>/<user>/Maildir/* up into <domain>/<user>/, then the whole tree to the mail uid. */
function moveLegacyMaildirs(mail: OpenDir): number {
  const link = mail.findLink();
  if (link) throw new MailError('conflict', `${link} is a symbolic link: a mail tree holds none; remove it and run migrate again (nothing was moved)`);
  let moved = 0;
  for (const domain of mail.names()) {
    if (!mail.entry(domain)?.isDirectory()) continue;
    withDir(mail.child(domain), (d) => {
      for (const user of d.names()) {
        if (!d.entry(user)?.isDirectory()) continue;
        withDir(d.child(user), (home) => {
          const legacy = home.child('Maildir');
          if (!legacy) return;
          withDir(legacy, (from) => mergeInto(from, home));
          home.removeEmptyChild('Maildir');
          moved++;
        });
      }
    });
  }
  mail.chownTree(MAIL_UID, MAIL_GID);
  return moved;
}

/** Move every entry of `from` into `to`; directories that exist on both sides merge. */
function mergeInto(from: OpenDir, to: OpenDir): void {
  for (const name of from.names()) {
    const source = from.entry(name);
    const target = to.entry(name);
    if (source?.isDirectory() && target?.isDirectory()) {
      withDir(from.child(name), (f) => withDir(to.child(name), (t) => mergeInto(f, t)));
      from.removeEmptyChild(name);
    } else if (!target) {
      from.move(name, to, name);
    } else {
      // Same file name on both sides cannot happen for maildir messages (unique names);
      // keep both rather than overwrite.
      from.move(name, to, `${name}.migrated`);
    }
  }
}
