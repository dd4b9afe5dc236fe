// Account changes as pure functions of (settings, accounts): every rule a mail admin relies
// on is checked here, before any file is touched.
import { MailError } from '../core/errors.ts';
import { mailDomains, type Settings } from '../config/settings.ts';
import { assertNoAliasLoop, domainOf, type Accounts, type AccountsView } from './accounts.ts';

function assertLocalDomain(s: Settings, address: string, field: string): void {
  const domain = domainOf(address);
  if (!mailDomains(s).includes(domain)) {
    throw new MailError('invalid_argument', `${domain} is not a mail domain of this server (add it with \`mailctl domain add ${domain}\`)`, field);
  }
}

export function addMailbox(s: Settings, a: Accounts, email: string, hash: string, quota: number | null): void {
  assertLocalDomain(s, email, 'email');
  if (a.mailboxes.has(email)) throw new MailError('exists', `mailbox ${email} already exists`, 'email');
  if (a.aliases.has(email)) throw new MailError('conflict', `${email} is an alias; remove the alias first`, 'email');
  a.mailboxes.set(email, { email, hash, quota });
}

export function getMailbox(a: Accounts, email: string) {
  const m = a.mailboxes.get(email);
  if (!m) throw new MailError('not_found', `no mailbox ${email}`, 'email');
  return m;
}

/** Removes the mailbox and every alias target naming it; returns the aliases it changed. */
export function removeMailbox(a: Accounts, email: string): string[] {
  getMailbox(a, email);
  a.mailboxes.delete(email);
  const changed: string[] = [];
  for (const [alias, targets] of a.aliases) {
    if (!targets.includes(email)) continue;
    changed.push(alias);
    const rest = targets.filter((t) => t !== email);
    if (rest.length) a.aliases.set(alias, rest);
    else a.aliases.delete(alias);
  }
  return changed;
}

/**
 * Targets in our own domains must exist: otherwise the mail bounces, or a catch-all of the
 * same domain sends it round in circles.
 */
export function addAlias(s: Settings, a: Accounts, alias: string, targets: string[]): string[] {
  assertLocalDomain(s, alias.startsWith('@') ? `x${alias}` : alias, 'alias');
  if (a.mailboxes.has(alias)) throw new MailError('conflict', `${alias} is a mailbox; an address cannot be both a mailbox and an alias`, 'alias');
  for (const t of targets) {
    if (t === alias) throw new MailError('conflict', `alias ${alias} cannot point to itself`, 'target');
    if (mailDomains(s).includes(domainOf(t)) && !a.mailboxes.has(t) && !a.aliases.has(t)) {
      throw new MailError('not_found', `${t} is neither a mailbox nor an alias here`, 'target');
    }
  }
  const merged = [...new Set([...(a.aliases.get(alias) ?? []), ...targets])];
  a.aliases.set(alias, merged);
  assertNoAliasLoop(a.aliases, alias);
  return merged;
}

export function removeAlias(a: Accounts, alias: string, target?: string): string[] {
  const targets = a.aliases.get(alias);
  if (!targets) throw new MailError('not_found', `no alias ${alias}`, 'alias');
  if (target === undefined) {
    a.aliases.delete(alias);
    return [];
  }
  if (!targets.includes(target)) throw new MailError('not_found', `alias ${alias} does not point to ${target}`, 'target');
  const rest = targets.filter((t) => t !== target);
  if (rest.length) a.aliases.set(alias, rest);
  else a.aliases.delete(alias);
  return rest;
}

/** What still lives in a domain: it cannot be removed while anything does. */
export function domainUsage(a: AccountsView, domain: string): { mailboxes: number; aliases: number } {
  let mailboxes = 0;
  let aliases = 0;
  for (const email of a.mailboxes.keys()) if (domainOf(email) === domain) mailboxes++;
  for (const alias of a.aliases.keys()) if (domainOf(alias) === domain) aliases++;
  return { mailboxes, aliases };
}
