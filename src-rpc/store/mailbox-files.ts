// Maildirs on disk: <mail>/<domain>/<user>/{cur,new,tmp}, owned by the mail uid/gid.
// The mail uid owns mail/ and mail/<domain>/, so it can plant links there: root walks this tree
// only through sys/nofollow (a link is refused, never followed) and chowns/chmods descriptors.
import { basename, dirname, join } from 'node:path';
import { listDir, isDirectory, statOrNull, exists } from '../sys/fs.ts';
import { openBelow, withDir, LinkRefusedError } from '../sys/nofollow.ts';
import { createdForUndo, keepForUndo } from '../sys/undo.ts';
import { MAIL_UID, MAIL_GID, type Layout } from '../core/layout.ts';
import { MailError } from '../core/errors.ts';

const MAIL_OWNED = { mode: 0o700, uid: MAIL_UID, gid: MAIL_GID };

export function maildirPath(l: Layout, email: string): string {
  const at = email.lastIndexOf('@');
  return join(l.mailDir, email.slice(at + 1), email.slice(0, at));
}

/** mail/ below data_path (root's), then the components under it. */
function mailTree(l: Layout, ...below: string[]): [string, string[]] {
  return [dirname(l.mailDir), [basename(l.mailDir), ...below]];
}

function mailboxParts(email: string): [string, string] {
  const at = email.lastIndexOf('@');
  return [email.slice(at + 1), email.slice(0, at)];
}

/** A planted link becomes an error a person can act on. */
export function refusingLinks<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LinkRefusedError) {
      throw new MailError('conflict', `${e.message} (the mail tree must hold real directories only; remove the link and try again)`);
    }
    throw e;
  }
}

/** mail/ itself, owned by the mail uid. */
export function ensureMailRoot(l: Layout): void {
  refusingLinks(() => withDir(openBelow(...mailTree(l), MAIL_OWNED), () => undefined));
}

/**
 * `keep`: files the same step replaces, named in the undo log with the new maildir (one flush of
 * the log for all, see sys/undo.ts).
 */
export function createMaildir(l: Layout, email: string, ...keep: string[]): void {
  // A user add that fails later (a full disk) or is killed leaves no maildir behind.
  const dir = maildirPath(l, email);
  const fresh = [join(dir, '..'), dir].find((d) => !exists(d));
  if (fresh) createdForUndo(fresh, ...keep);
  else keepForUndo(...keep);
  refusingLinks(() =>
    withDir(openBelow(...mailTree(l, ...mailboxParts(email)), MAIL_OWNED), (dir) => {
      for (const sub of ['cur', 'new', 'tmp']) dir.ensureChild(sub, MAIL_OWNED).close();
    }),
  );
}

/** Refuse now, before anything changes, what purgeMaildir would refuse later. */
export function checkMaildirReachable(l: Layout, email: string): void {
  refusingLinks(() => openBelow(...mailTree(l, mailboxParts(email)[0]))?.close());
}

export function purgeMaildir(l: Layout, email: string): void {
  const [domain, user] = mailboxParts(email);
  refusingLinks(() => {
    const parent = openBelow(...mailTree(l, domain));
    if (parent) withDir(parent, (d) => d.removeChildTree(user));
  });
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
