// Postfix lookup-table SOURCE files (input of `postmap <type>:<file>`), rendered from the account
// store: one `key value` per line, keys lowercase and sorted, nothing else. The store's `users`
// and `valias` stay the source of truth; these files are derived and rewritten on every apply.

import type { Settings } from '../config/settings.ts';
import { mailDomains, postmasterAddress } from '../config/settings.ts';
import type { AliasView, MailboxView } from './view.ts';

/** Local part kept as written, domain lowercased (addresses in map values). */
function normAddress(addr: string): string {
  const a = addr.trim();
  const at = a.lastIndexOf('@');
  return at < 0 ? a : a.slice(0, at) + a.slice(at).toLowerCase();
}

function key(addr: string): string {
  return addr.trim().toLowerCase();
}

/** Lines `key value`, sorted by key; any whitespace in a key or value is refused. */
function table(entries: Map<string, string>): string {
  const keys = [...entries.keys()];
  // Usually already in order (the store writes sorted files): sorting 10 000 keys is not free.
  if (keys.some((k, i) => i > 0 && keys[i - 1]! > k)) keys.sort();
  let out = '';
  for (const k of keys) out += `${k} ${entries.get(k) ?? ''}\n`;
  return checkedLines(out, keys.length, () => keys.map((k) => [k, entries.get(k) ?? '']));
}

/**
 * `text` when it is `count` lines of `key value`, else an error naming the bad entry. One scan of
 * the text rather than two per entry: every line is `key value` with both non-empty and without
 * whitespace exactly when no line breaks that form and there is one line per entry (a line break
 * inside a value would make two good-looking lines).
 */
function checkedLines(text: string, count: number, entries: () => [string, string][]): string {
  if (!BAD_LINE.test(text) && lineCount(text) === count) return text;
  for (const [k, v] of entries()) {
    if (k === '' || /\s/.test(k)) throw new Error(`render: bad map key ${JSON.stringify(k)}`);
    if (v === '' || /\s/.test(v)) throw new Error(`render: bad map value for ${k}: ${JSON.stringify(v)}`);
  }
  throw new Error('render: bad map line');
}

/** At the start of the text or of a line: anything but `non-space space non-space newline`. */
const BAD_LINE = /(?:^|\n)(?!\S+ \S+\n|$)/;

function lineCount(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n++;
  return n;
}

/**
 * Several maps of one render ask the same questions of the same lists (which addresses are
 * mailboxes, who owns each alias): answered once per (settings, mailboxes, aliases), not once per
 * map, since each answer walks every mailbox. The lists are never changed once rendered.
 */
function oncePerRender<T>(compute: (s: Settings, mailboxes: MailboxView[], aliases: AliasView[]) => T) {
  const memo = new WeakMap<MailboxView[], { s: Settings; aliases: AliasView[]; value: T }>();
  return (s: Settings, mailboxes: MailboxView[], aliases: AliasView[]): T => {
    const hit = memo.get(mailboxes);
    if (hit && hit.s === s && hit.aliases === aliases) return hit.value;
    const value = compute(s, mailboxes, aliases);
    memo.set(mailboxes, { s, aliases, value });
    return value;
  };
}

const mailboxKeys = oncePerRender((_s, mailboxes) => new Set(mailboxes.map((mb) => key(mb.email))));

function uniq(list: string[]): string[] {
  return [...new Set(list)];
}

function splitAddress(email: string): { local: string; domain: string } {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) throw new Error(`render: not an address: ${JSON.stringify(email)}`);
  return { local: email.slice(0, at), domain: email.slice(at + 1) };
}

/** Aliases merged by (lowercased) address, targets in order, duplicates dropped. */
function mergedAliases(aliases: AliasView[]): Map<string, string[]> {
  const merged = new Map<string, string[]>();
  for (const a of aliases) {
    const k = key(a.alias);
    merged.set(k, uniq([...(merged.get(k) ?? []), ...a.targets.map(normAddress).filter((t) => t !== '')]));
  }
  return merged;
}

/** virtual_mailbox_domains: every mail domain → OK. */
export function renderVdomains(s: Settings, _mailboxes: MailboxView[] = [], _aliases: AliasView[] = []): string {
  return table(new Map(mailDomains(s).map((d) => [key(d), 'OK'])));
}

/** virtual_mailbox_maps: `email domain/user/` (the maildir under mailDir; the value is informational for LMTP). */
export function renderVmailbox(_s: Settings, mailboxes: MailboxView[], _aliases: AliasView[] = []): string {
  // As long as the store and rendered at every `user add`: the store hands the mailboxes sorted
  // and unique, so the lines are written in one pass, without the Map table() sorts and dedupes.
  let out = '';
  let previous = '';
  for (const mb of mailboxes) {
    const email = key(mb.email);
    if (email <= previous) return table(new Map(mailboxes.map((m) => [key(m.email), maildirOf(key(m.email))])));
    previous = email;
    out += vmailboxLine(email);
  }
  return checkedLines(out, mailboxes.length, () => mailboxes.map((m) => [key(m.email), maildirOf(key(m.email))]));
}

/** Local parts every mail domain answers to (RFC 2142): the postmaster's unless a mailbox or alias of their own. */
const IMPLICIT_ALIASES = ['postmaster', 'abuse'];

/** A mailbox's line in the vmailbox source (email lower-case). */
export function vmailboxLine(email: string): string {
  return `${email} ${maildirOf(email)}\n`;
}

/**
 * A new mailbox adds its vmailboxLine and changes no other map unless one of them is about it:
 * an alias naming it as a target (senders, the signers' owners), a catch-all of its domain
 * (virtual), being a domain's postmaster@ or abuse@ or the postmaster address (the implicit
 * aliases), a '+' in its name (senders-self). True when none is: then adding it is one line.
 */
export function newMailboxOnlyInVmailbox(s: Settings, email: string, aliases: AliasView[]): boolean {
  const address = key(email);
  const { local, domain } = splitAddress(address);
  if (address.includes('+') || IMPLICIT_ALIASES.includes(local) || address === key(postmasterAddress(s))) return false;
  return !aliases.some((a) => key(a.alias) === `@${domain}` || a.targets.some((t) => key(t) === address));
}

/** `domain/user/`: where the mailbox's maildir is under mailDir. */
function maildirOf(email: string): string {
  const { local, domain } = splitAddress(email);
  return `${domain}/${local}/`;
}

/**
 * virtual_alias_maps. Besides the aliases, every mailbox of a domain with a catch-all maps to
 * itself: Postfix applies a catch-all `@domain` to any address of the domain without its own
 * entry, real mailboxes included (virtual(5)). Other domains need no such entries, which keeps
 * this map (and its rebuild on every `user add`) small. postmaster@ and abuse@ of every domain go to the postmaster address
 * unless that exact address is a mailbox or an explicit alias. An explicit alias on a mailbox's
 * own address wins over the mailbox's self-entry (forwarding; list the mailbox among the targets
 * to keep a copy).
 */
export function renderVirtual(s: Settings, mailboxes: MailboxView[], aliases: AliasView[]): string {
  const m = new Map<string, string>();
  const boxes = mailboxKeys(s, mailboxes, aliases);
  const merged = mergedAliases(aliases);
  const catchAll = new Set([...merged.keys()].filter((a) => a.startsWith('@')).map((a) => a.slice(1)));
  for (const mb of boxes) if (catchAll.has(splitAddress(mb).domain)) m.set(mb, mb);
  for (const [alias, targets] of merged) {
    if (targets.length === 0) continue;
    m.set(alias, targets.join(','));
  }
  const pm = normAddress(postmasterAddress(s));
  for (const d of mailDomains(s)) {
    for (const local of IMPLICIT_ALIASES) {
      const addr = key(`${local}@${d}`);
      if (boxes.has(addr) || merged.has(addr)) continue;
      // postmaster@<primary> mapped onto itself would only make an unknown address look known.
      if (addr === key(pm)) continue;
      m.set(addr, pm);
    }
  }
  return table(m);
}

/**
 * smtpd_sender_login_maps, first table: an alias address (not a catch-all) is owned by the local
 * mailboxes among its direct targets — including the implicit postmaster@/abuse@ aliases. Every
 * other address is owned by the login of the same name (renderSendersSelf, the second table), so a
 * mailbox needs no line here and `user add` does not rebuild this map.
 */
export function renderSenders(s: Settings, mailboxes: MailboxView[], aliases: AliasView[]): string {
  return table(new Map([...aliasOwners(s, mailboxes, aliases)].map(([k, v]) => [k, v.join(',')])));
}

/**
 * The same ownership for the DKIM signers' header From: check (Rspamd's set map, OpenDKIM's
 * file data set): one `alias/login` key per owning login. A login's own address needs no line.
 */
export function renderSenderOwners(s: Settings, mailboxes: MailboxView[], aliases: AliasView[]): string {
  let out = '';
  for (const [alias, owners] of aliasOwners(s, mailboxes, aliases)) for (const o of owners) out += `${alias}/${o}\n`;
  return out;
}

/** Alias address (no catch-all) → the local mailboxes among its direct targets, sorted. */
const aliasOwners = oncePerRender((s, mailboxes, aliases): Map<string, string[]> => {
  const boxes = mailboxKeys(s, mailboxes, aliases);
  const owners = new Map<string, string[]>();
  const merged = mergedAliases(aliases);
  const pm = key(postmasterAddress(s));
  for (const d of mailDomains(s)) {
    for (const local of IMPLICIT_ALIASES) {
      const addr = key(`${local}@${d}`);
      if (!boxes.has(addr) && !merged.has(addr) && addr !== pm) merged.set(addr, [pm]);
    }
  }
  for (const [alias, targets] of merged) {
    if (alias.startsWith('@')) continue;
    const local = targets.map(key).filter((t) => boxes.has(t));
    if (local.length === 0) continue;
    owners.set(alias, uniq([...(owners.get(alias) ?? []), ...local]).sort());
  }
  return new Map([...owners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
});

/**
 * smtpd_sender_login_maps, second table (regexp), for what the first cannot say. Postfix looks a
 * sender up whole, then without its +tag in fixed-string tables only (mail_addr_find), so every
 * +tag form is answered here: an alias's by its owners, any other address's by the login of the
 * same name without the tag. Any untagged address is owned by the same login, so a mailbox needs
 * no line here, unless its own name has a '+' (then it is not a tag).
 */
export function renderSendersSelf(s: Settings, mailboxes: MailboxView[], aliases: AliasView[]): string {
  const ere = (text: string) => text.replace(/[\\.[\](){}*+?|^$]/g, (c) => `\\${c}`);
  let out = '';
  for (const mb of mailboxes.map((x) => key(x.email)).filter((e) => e.includes('+')).sort()) out += `/^${ere(mb)}$/ ${mb}\n`;
  for (const [alias, owners] of aliasOwners(s, mailboxes, aliases)) {
    const { local, domain } = splitAddress(alias);
    out += `/^${ere(local)}\\+[^@]*@${ere(domain)}$/ ${owners.join(',')}\n`;
  }
  return `${out}/^([^+@]+)\\+[^@]*(@.+)$/ \${1}\${2}\n/^(.+)$/ \${1}\n`;
}

/**
 * data_path/secrets/postfix/relay_passwd (smtp_sasl_password_maps source): `<relayhost> user:password`.
 * The key must be spelled exactly like main.cf's relayhost.
 */
export function renderRelayPasswd(relayhost: string, user: string, password: string): string {
  for (const [what, value] of [['relayhost', relayhost], ['relay user', user], ['relay password', password]] as const) {
    if (value === '') throw new Error(`render: ${what} is empty`);
    if (/[\r\n]/.test(value)) throw new Error(`render: ${what} contains a line break`);
  }
  // The value is the rest of the line: inner spaces survive, edge whitespace would be trimmed.
  if (/\s/.test(relayhost) || /[\s:]/.test(user)) throw new Error('render: relay host or user contains whitespace or ":"');
  if (password.trim() !== password) throw new Error('render: relay password starts or ends with whitespace');
  return `${relayhost} ${user}:${password}\n`;
}
