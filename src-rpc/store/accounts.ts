// The account store in memory, and its two files: `users` (a Dovecot passwd-file) and
// `valias` (Postfix virtual-alias source format). Pure: parsing, rules and rendering only.
import { MailError } from '../api/errors.ts';
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
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    const email = fields[0]!.toLowerCase();
    const hash = fields[1] ?? '';
    const extra = fields.slice(7).join(':');
    let quota: number | null = null;
    for (const item of extra.split(' ')) {
      if (item.startsWith(QUOTA_RULE)) quota = Number(item.slice(QUOTA_RULE.length).replace(/B$/, ''));
    }
    out.set(email, { email, hash, quota: Number.isFinite(quota) ? quota : null });
  }
  return out;
}

export function serializeUsers(mailboxes: Map<string, Mailbox>): string {
  let out = '';
  for (const m of [...mailboxes.values()].sort(byEmail)) {
    const extra = m.quota === null ? '' : `${QUOTA_FIELD}${quotaRule(m.quota)}`;
    out += `${m.email}:${m.hash}::::::${extra}\n`;
  }
  return out;
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
