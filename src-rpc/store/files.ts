// The account store on disk: data_path/config/{users,valias,format}. Each save is one atomic
// file replacement; callers hold the write lock.
import { join } from 'node:path';
import { readBytes, readHeadOf, readText, writeAtomic, replaceLaterFilling, exists, listDir, isDirectory, ensureDir, statOrNull, ensureVisibleChange, fileIdentity, type FileData, type UnfilledReplacement } from '../sys/fs.ts';
import { systemGroupId } from '../sys/accounts.ts';
import { MailError } from '../core/errors.ts';
import { parseUsers, sortedMailboxes, serializeUsers, parseValias, serializeValias, type Accounts, type AccountsView, type Mailbox, type SortedMailboxes } from './accounts.ts';
import type { Layout } from '../core/layout.ts';

export const STORE_FORMAT = '1';

export const usersFile = (l: Layout) => join(l.configDir, 'users');
const valiasFile = (l: Layout) => join(l.configDir, 'valias');
const formatFile = (l: Layout) => join(l.configDir, 'format');

/**
 * A parse kept for as long as its file is the same file (fileIdentity, checked on every call),
 * so the warm worker does not parse 10 000 users per page; any write by any door shows at once.
 * `writtenAs`: the identity the file had when we wrote it, if the caller knows it; the parse is
 * told whether the file still has it (then the writer vouches for its form).
 */
function cachedParse<T>(parse: (text: string, vouched: boolean) => T, read = (path: string) => readText(path)): (path: string, writtenAs?: string | null) => T {
  let key: string | null | undefined;
  let value: T;
  return (path, writtenAs = null) => {
    const now = fileIdentity(path);
    // Identity before reading: a file replaced in between is read again at the next call.
    if (now === null || now !== key) {
      value = parse(read(path) ?? '', now !== null && now === writtenAs);
      key = now;
    }
    return value;
  };
}
const viewUsers = cachedParse(parseUsers);
const viewValias = cachedParse(parseValias);
const viewSortedUsers = cachedParse(sortedMailboxes, (path) => readBytes(path)?.toString('latin1') ?? null);

export function viewAccounts(l: Layout): AccountsView {
  return { mailboxes: viewUsers(usersFile(l)), aliases: viewAliases(l) };
}

export function viewAliases(l: Layout): AccountsView['aliases'] {
  return viewValias(valiasFile(l));
}

/** The users file as we last wrote it: its identity (sys/fs fileIdentity) and its number of mailboxes. */
export interface StampedUsers {
  identity: string;
  mailboxes: number;
}

/**
 * The first `lines` mailboxes of a users file we wrote, if it is still the one `stamped` names,
 * read without the rest: the bytes that many lines of average length take, and a margin. Null
 * when the file changed, or when its first lines are longer than that.
 */
function headOfStamped(path: string, stamped: StampedUsers, lines: number): SortedMailboxes | null {
  const head = readHeadOf(path, stamped.identity, (size) => Math.ceil((size / Math.max(stamped.mailboxes, 1)) * lines * 1.5) + 4096);
  if (!head) return null;
  // Whole lines only: the head ends at its last newline.
  const mailboxes = sortedMailboxes(head.toString('latin1', 0, head.lastIndexOf(10) + 1), true);
  return mailboxes && mailboxes.total >= Math.min(lines, stamped.mailboxes) ? mailboxes : null;
}

/**
 * The mailboxes sorted by address, each parsed only when a page asks for it. `stamped`: the
 * users file as we last wrote it, if known. While the file is still that one, its order is not
 * checked again, its count is the stamp's and a page reads the file only as far as it reaches
 * (at 10 000 mailboxes reading and cutting the whole 1.5 MB was most of a cold first page).
 */
export function viewSortedMailboxes(l: Layout, stamped: StampedUsers | null = null): SortedMailboxes {
  const path = usersFile(l);
  const whole = () => viewSortedUsers(path, stamped?.identity) ?? editedByHand(path);
  if (stamped && fileIdentity(path) === stamped.identity) {
    return {
      total: stamped.mailboxes,
      slice: (from, to) => (headOfStamped(path, stamped, to) ?? whole()).slice(from, to),
    };
  }
  return whole();
}

/** A users file edited by hand: parsed whole, and sorted if need be. */
function editedByHand(path: string): SortedMailboxes {
  const all = [...viewUsers(path).values()];
  if (all.some((m, i) => i > 0 && all[i - 1]!.email > m.email)) all.sort((x, y) => (x.email < y.email ? -1 : 1));
  return { total: all.length, slice: (from, to) => all.slice(from, to) };
}

export function loadAccounts(l: Layout): Accounts {
  return {
    mailboxes: parseUsers(readText(usersFile(l)) ?? ''),
    aliases: parseValias(readText(valiasFile(l)) ?? ''),
  };
}

/** Dovecot's auth process (user dovecot) reads the users file; nobody else may. */
const usersOwnership = (l: Layout) => ({ mode: 0o640, uid: 0, gid: systemGroupId('dovecot', l.daemonsRoot) ?? 0 });

export function saveMailboxes(l: Layout, mailboxes: Map<string, Mailbox>): void {
  saveUsersFile(l, serializeUsers(mailboxes));
}

/** The users file whole, as serializeUsers writes it. */
export function saveUsersFile(l: Layout, text: FileData): void {
  const before = statOrNull(usersFile(l));
  const changed = writeAtomic(usersFile(l), text, usersOwnership(l));
  if (changed && before) ensureVisibleChange(usersFile(l), before);
}

/**
 * saveUsersFile for a text one line longer, whose password hash is still being made (sys/fs
 * replaceLaterFilling). Its size changes, so Dovecot sees the change without ensureVisibleChange.
 */
export function replaceUsersFileLater(l: Layout, text: FileData): UnfilledReplacement {
  return replaceLaterFilling(usersFile(l), text, usersOwnership(l));
}

/** The number of mailboxes when the users file is as serializeUsers writes it (sorted, one line per mailbox); else null. */
export function usersFileMailboxes(l: Layout): number | null {
  return viewSortedUsers(usersFile(l))?.total ?? null;
}

/**
 * The users file's group is Dovecot's on the machine the daemons run on, which a container
 * made after the first `user add` did not have yet: converging gives it its group again.
 */
export function ownUsersFile(l: Layout): void {
  const text = readText(usersFile(l));
  if (text !== null) writeAtomic(usersFile(l), text, usersOwnership(l));
}

export function saveAliases(l: Layout, aliases: Map<string, string[]>): void {
  writeAtomic(valiasFile(l), serializeValias(aliases), { mode: 0o644 });
}

export function markFormat(l: Layout): void {
  ensureDir(l.configDir, { mode: 0o755 });
  writeAtomic(formatFile(l), `${STORE_FORMAT}\n`, { mode: 0o644 });
}

/**
 * A store written by SecuBox's shell mailctl has no format file and keeps mail in
 * <domain>/<user>/Maildir/; or its users file carries uid/gid/home fields.
 */
export function detectLegacy(l: Layout): boolean {
  if (exists(formatFile(l))) return false;
  const users = readText(usersFile(l));
  if (users && users.split('\n').some((line) => line.split(':').slice(2, 6).some((f) => f !== ''))) return true;
  for (const domain of listDir(l.mailDir)) {
    for (const user of listDir(join(l.mailDir, domain))) {
      if (isDirectory(join(l.mailDir, domain, user, 'Maildir'))) return true;
    }
  }
  return false;
}

export function assertCurrentFormat(l: Layout): void {
  if (detectLegacy(l)) {
    throw new MailError('conflict', 'this data was written by SecuBox\'s shell mailctl: run `mailctl migrate` first');
  }
}

/** Accounts for a change: refuses a legacy store and marks a new one with the format. */
export function loadAccountsForChange(l: Layout): Accounts {
  assertCurrentFormat(l);
  if (!exists(formatFile(l))) markFormat(l);
  return loadAccounts(l);
}
