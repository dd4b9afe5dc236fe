// Adding one mailbox among thousands without converging everything. What apply would change is
// known beforehand (render/maps: newMailboxOnlyInVmailbox): the users file and the vmailbox
// source each gain one line, and its cdb database one record. Each line is put in its place by
// binary search and the record appended to the database, instead of parsing every mailbox,
// rendering every map and encoding the database anew, which at 10 000 mailboxes cost most of a
// cold `user add`. Only where apply last wrote these files from this very users file (the stamp):
// anything else, and every refusal, goes the general way, which converges and re-stamps.
import { join } from 'node:path';
import { readText, replaceLater, writeHint, fileIdentity, removeTree, type Replacement, type UnfilledReplacement } from '../sys/fs.ts';
import { bufferSource, openSource } from '../sys/file-ranges.ts';
import { appendCdb, mapSourceEntries } from '../sys/cdb.ts';
import { insertLine, seekSorted } from '../sys/sorted-lines.ts';
import { addedQuickly } from '../sys/code-cache.ts';
import { mailDomains } from '../config/settings.ts';
import { newMailboxOnlyInVmailbox, vmailboxLine } from '../render/maps.ts';
import { AS_WRITTEN, domainOf, userLine, type Mailbox } from '../store/accounts.ts';
import { assertCurrentFormat, replaceUsersFileLater, usersFile, usersFileMailboxes, viewAliases, type StampedUsers } from '../store/files.ts';
import { createMaildir } from '../store/mailbox-files.ts';
import { vmailboxSource, mapDatabase } from './converge.ts';
import { knownFacts } from './facts.ts';
import { machineFor } from './machine.ts';
import type { Context } from '../core/context.ts';
import type { Layout } from '../core/layout.ts';
import type { MapType } from '../render/view.ts';

/** What a new password's SHA512-CRYPT stands for until it is made: as long as sys/sha512crypt's (a 16-character salt, default rounds). */
const HASH_STAND_IN = `{SHA512-CRYPT}$6$${'.'.repeat(16)}$${'.'.repeat(86)}`;

/** An absent users file or vmailbox: no lines yet. */
const none = bufferSource(Buffer.alloc(0));

/**
 * Names the users file, the vmailbox source and its database as apply or addMailbox left them,
 * then the number of mailboxes in that users file.
 */
const stampFile = (l: Layout) => join(l.stateDir, 'vmailbox-stamp');

/** Who the three files are now (sys/fs fileIdentity: any replacement or write changes it). */
const identities = (l: Layout) => [usersFile(l), vmailboxSource(l), mapDatabase(vmailboxSource(l), 'cdb')].map(fileIdentity).join(' ');

interface Stamp {
  files: string;
  mailboxes: number;
}

function readStamp(l: Layout): Stamp | null {
  const m = /^(\S+ \S+ \S+) (\d+)\n$/.exec(readText(stampFile(l)) ?? '');
  return m ? { files: m[1]!, mailboxes: Number(m[2]) } : null;
}

/** The stamp, when it names the three files as they are now. */
function currentStamp(l: Layout): Stamp | null {
  const stamp = readStamp(l);
  return stamp?.files === identities(l) ? stamp : null;
}

/**
 * Not flushed (sys/fs writeHint): a stamp lost to a power cut only sends the next add the general
 * way, and one left older names other files, which a stamp must name to count.
 */
const writeStamp = (l: Layout, mailboxes: number) => writeHint(stampFile(l), `${identities(l)} ${mailboxes}\n`, { mode: 0o644 });

/** The users file as apply or a quick add last wrote it: its identity and its number of mailboxes (null: unknown). */
export function stampedUsers(l: Layout): StampedUsers | null {
  const stamp = readStamp(l);
  const identity = stamp?.files.split(' ')[0];
  return stamp && identity !== 'null' ? { identity: identity!, mailboxes: stamp.mailboxes } : null;
}

/** After apply wrote the maps from the users file: stamp them where a mailbox can be added quickly. */
export function stampVmailbox(l: Layout, mapType: MapType): void {
  const mailboxes = mapType === 'cdb' ? usersFileMailboxes(l) : null;
  if (mailboxes !== null) writeStamp(l, mailboxes);
  else removeTree(stampFile(l));
}

/** A change of the users file alone (a password, a quota): a stamp current before stays current. */
export function keepingStamp<T>(l: Layout, change: () => T): T {
  const current = currentStamp(l);
  const result = change();
  if (current) writeStamp(l, current.mailboxes);
  return result;
}

/**
 * Adds a mailbox (a new address, its maildir, its lines; `hash()` gives its password as stored)
 * when it is one of the quick cases; false (nothing changed) otherwise, for the caller to add it
 * the general way, which also gives the refusals (an existing mailbox, an alias, a foreign
 * domain) their errors.
 */
export async function addMailboxQuickly(ctx: Context, { email, quota }: Omit<Mailbox, 'hash'>, hash: () => Promise<string>): Promise<boolean> {
  const l = ctx.layout;
  const s = ctx.settings;
  assertCurrentFormat(l);
  const machine = machineFor(s);
  const stamp = machine.kind === 'host' ? currentStamp(l) : null;
  if (!stamp) return false;
  if (knownFacts(l, machine).mapType !== 'cdb' || !AS_WRITTEN.test(email) || !mailDomains(s).includes(domainOf(email))) return false;
  const aliases = viewAliases(l);
  if (aliases.has(email) || !newMailboxOnlyInVmailbox(s, email, [...aliases].map(([alias, targets]) => ({ alias, targets: [...targets] })))) return false;

  // Read by range (sys/file-ranges): the new files are written from ranges of these, open until then.
  const opened = [usersFile(l), vmailboxSource(l), mapDatabase(vmailboxSource(l), 'cdb')].map(openSource);
  const replacements: Replacement[] = [];
  let unfilledUsers: UnfilledReplacement | null = null;
  try {
    const [users = none, source = none, database] = opened.map((file) => file ?? undefined);
    const inUsers = seekSorted(users, email, ':');
    const inSource = seekSorted(source, email, ' ');
    const line = vmailboxLine(email);
    const grown = database && appendCdb(database, mapSourceEntries(line));
    if (!inUsers || inUsers.found || !inSource || inSource.found || !grown) return false;

    // The maps need no hash, nor does the users file but for its new line's hash, which is a
    // stand-in of its length until the real one comes: all three are written first and flushed
    // on Node's thread pool while the password is hashed (here, or on the warm worker's thread).
    // Then the hash is written in and its page flushed. The files are replaced in the general
    // way's order: the maildir, the users file, then the maps. The maildir and the four files'
    // old versions go into the undo log at once (one flush of it, not five).
    const rootOwned = { mode: 0o644, uid: 0, gid: 0 };
    replacements.push(replaceLater(mapDatabase(vmailboxSource(l), 'cdb'), grown, rootOwned));
    replacements.push(replaceLater(vmailboxSource(l), insertLine(source, inSource.at, line), rootOwned));
    const standIn = userLine({ email, hash: HASH_STAND_IN, quota });
    unfilledUsers = replaceUsersFileLater(l, insertLine(users, inUsers.at, standIn));
    createMaildir(l, email, usersFile(l), mapDatabase(vmailboxSource(l), 'cdb'), vmailboxSource(l), stampFile(l));
    const entry = Buffer.from(userLine({ email, hash: await hash(), quota }), 'latin1');
    if (entry.length !== standIn.length) throw new Error("the password hash is not of SHA512-CRYPT's usual length");
    replacements.unshift(unfilledUsers.fill(inUsers.at, entry));
    unfilledUsers = null;
    while (replacements.length) {
      await replacements[0]!.flushed;
      replacements.shift()!.put();
    }
  } finally {
    unfilledUsers?.drop();
    for (const replacement of replacements) replacement.drop();
    for (const file of opened) file?.close();
  }
  writeStamp(l, stamp.mailboxes + 1);
  addedQuickly();
  return true;
}
