// The account store in memory, and its two files: `users` (a Dovecot passwd-file) and
// `valias` (Postfix virtual-alias source format). Pure: parsing, rules and rendering only.
import { MailError } from '../core/errors.ts';
import { quotaRule } from '../render/dovecot.ts';

export interface Mailbox {
  email: string;
  /** "{SHA512-CRYPT}$6$..." exactly as Dovecot reads it. */
  hash: string;
  /** Bytes; 0 = unlimited; null = features.quota_default. */
  quota: number | null;
}

export interface Accounts {
  mailboxes: Map<string, Mailbox>;
  /** alias address or "@domain" → target addresses */
  aliases: Map<string, string[]>;
}

/** What read methods get: the store as its files hold it now, not to be changed. */
export interface AccountsView {
  readonly mailboxes: ReadonlyMap<string, Readonly<Mailbox>>;
  readonly aliases: ReadonlyMap<string, readonly string[]>;
}

const QUOTA_FIELD = 'userdb_quota_rule=';
const QUOTA_RULE = `${QUOTA_FIELD}*:storage=`;

export function emptyAccounts(): Accounts {
  return { mailboxes: new Map(), aliases: new Map() };
}

/**
 * users: `email:{SCHEME}hash:uid:gid:gecos:home:shell:extra`. We write uid/gid/home empty
 * (dovecot.conf supplies them per runtime) and the quota as an extra field.
 */
export function parseUsers(text: string): Map<string, Mailbox> {
  const out = new Map<string, Mailbox>();
  // indexOf rather than split: this runs over every line on every call (10 000 users ≈ 1.5 MB).
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line === '' || line.startsWith('#')) continue;
    const mailbox = parseUserLine(line);
    out.set(mailbox.email, mailbox);
  }
  return out;
}

/** One users line that is neither blank nor a comment. */
function parseUserLine(line: string): Mailbox {
  const emailEnd = line.indexOf(':');
  const email = (emailEnd < 0 ? line : line.slice(0, emailEnd)).toLowerCase();
  const hashEnd = emailEnd < 0 ? -1 : line.indexOf(':', emailEnd + 1);
  const hash = emailEnd < 0 ? '' : line.slice(emailEnd + 1, hashEnd < 0 ? line.length : hashEnd);
  const rule = hashEnd < 0 ? -1 : line.indexOf(QUOTA_RULE, hashEnd);
  return { email, hash, quota: rule < 0 ? null : quotaBytes(line.slice(rule + QUOTA_RULE.length)) };
}

/** The mailboxes sorted by address (without their hashes), cut without parsing the lines outside the cut. */
export interface SortedMailboxes {
  total: number;
  slice(start: number, end: number): Pick<Mailbox, 'email' | 'quota'>[];
}

/** An address as serializeUsers writes it: lower-case printable ASCII, no ':', not a comment. */
export const AS_WRITTEN = /^[\x21\x22\x24-\x39\x3b-\x40\x5b-\x7e][\x21-\x39\x3b-\x40\x5b-\x7e]*$/;

/**
 * The users file as serializeUsers writes it (one line per mailbox, addresses lower-case ASCII,
 * strictly ascending) is already the sorted list parseUsers would give: the n-th line is the n-th
 * mailbox. Then a page or the count costs a scan for line ends, not a parse of every line, so
 * 100 000 mailboxes cost little more than 10 000. null for any other file (edited by hand):
 * parse it whole. Only addresses (ASCII, checked) and quotas (digits) are read from the text, so
 * it may be decoded as latin1, several times faster than UTF-8 at 15 MB.
 */
export function sortedMailboxes(text: string, knownAsWritten = false): SortedMailboxes | null {
  const starts: number[] = [];
  let previous = '';
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    // No final newline: not as written.
    if (end < 0) return null;
    // knownAsWritten: the writer's stamp vouches for this very file; checking 10 000 addresses
    // again would be most of a cold page.
    if (!knownAsWritten) {
      const colon = text.indexOf(':', start);
      // A line without ':' (or blank): not as written.
      if (colon < 0 || colon > end) return null;
      const email = text.slice(start, colon);
      if (email <= previous || !AS_WRITTEN.test(email)) return null;
      previous = email;
    }
    starts.push(start);
    start = end + 1;
  }
  starts.push(text.length);
  return {
    total: starts.length - 1,
    slice: (from, to) => {
      const out: Pick<Mailbox, 'email' | 'quota'>[] = [];
      for (let i = Math.max(0, from); i < Math.min(to, starts.length - 1); i++) {
        const { email, quota } = parseUserLine(text.slice(starts[i], starts[i + 1]! - 1));
        out.push({ email, quota });
      }
      return out;
    },
  };
}

/** Dovecot's storage value: bytes, or a number with a B/K/M/G/T (1024-based) suffix. */
function quotaBytes(value: string): number | null {
  const m = /^(\d+)([bkmgt]?)/i.exec(value);
  return m ? Number(m[1]) * 1024 ** Math.max(0, 'bkmgt'.indexOf((m[2] || 'b').toLowerCase())) : null;
}

export function serializeUsers(mailboxes: Map<string, Mailbox>): string {
  let out = '';
  const all = [...mailboxes.values()];
  if (all.some((m, i) => i > 0 && byEmail(all[i - 1]!, m) > 0)) all.sort(byEmail);
  for (const m of all) out += userLine(m);
  return out;
}

/** A mailbox's line in the users file. */
export function userLine(m: Mailbox): string {
  return `${m.email}:${m.hash}::::::${m.quota === null ? '' : `${QUOTA_FIELD}${quotaRule(m.quota)}`}\n`;
}

/** valias: `alias target1,target2` per line (Postfix source syntax, commas without spaces). */
export function parseValias(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [source, ...rest] = line.split(/\s+/);
    const targets = rest.join('').split(',').filter((t) => t !== '');
    const key = source!.toLowerCase();
    out.set(key, [...new Set([...(out.get(key) ?? []), ...targets.map((t) => t.toLowerCase())])]);
  }
  return out;
}

export function serializeValias(aliases: Map<string, string[]>): string {
  return [...aliases.keys()]
    .sort()
    .map((k) => `${k} ${aliases.get(k)!.join(',')}\n`)
    .join('');
}

function byEmail(a: Mailbox, b: Mailbox): number {
  return a.email < b.email ? -1 : a.email > b.email ? 1 : 0;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

/** Refuse an alias that would make mail go round in circles among our own aliases. */
export function assertNoAliasLoop(aliases: Map<string, string[]>, start: string): void {
  const seen = new Set<string>();
  const walk = (address: string, path: string[]): void => {
    const targets = aliases.get(address);
    if (!targets) return;
    if (seen.has(address)) {
      if (path.includes(address)) {
        throw new MailError('conflict', `alias loop: ${[...path.slice(path.indexOf(address)), address].join(' → ')}`, 'target');
      }
      return;
    }
    seen.add(address);
    for (const t of targets) walk(t, [...path, address]);
  };
  walk(start, []);
}
