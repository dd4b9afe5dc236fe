// DKIM keys per domain. The list (selectors, public keys, states) is data_path/config/dkim.json;
// private keys are 0600 files in data_path/secrets/dkim/<domain>/, owned by the daemon that signs
// (Rspamd or OpenDKIM), never by anyone else.
//
// A key is `active` (signs), `pending` (published by a rotation, not signing yet) or `retiring`
// (no longer signs; its record stays published for dns.dkim_grace_days, then `tick` removes it).
import { join } from 'node:path';
import { readText, writeAtomic, ensureDir, exists, removeTree, statOrNull, chownTree, listDir } from '../sys/fs.ts';
import { generateDkimKey, rspamdEd25519Key } from '../sys/crypto.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { mailDomains, type Settings, type DkimAlgorithm } from '../config/settings.ts';
import type { DkimKeyView, DkimKeyState } from '../dns/records.ts';

export interface DkimKey extends DkimKeyView {
  created: string;
  /** When it stopped signing (retiring keys). */
  retired?: string;
}

const stateFile = (l: Layout) => join(l.configDir, 'dkim.json');
export const dkimSecretsDir = (l: Layout) => join(l.secretsDir, 'dkim');
const domainDir = (l: Layout, domain: string) => join(dkimSecretsDir(l), domain);

/** PKCS#8 PEM (OpenDKIM, Rspamd RSA). */
export const privateKeyPath = (l: Layout, k: Pick<DkimKey, 'domain' | 'selector'>) => join(domainDir(l, k.domain), `${k.selector}.pem`);
/** Rspamd's Ed25519 format (base64 seed ‖ public key). */
export const rspamdKeyPath = (l: Layout, k: Pick<DkimKey, 'domain' | 'selector'>) => join(domainDir(l, k.domain), `${k.selector}.rspamd`);

export function loadDkimKeys(l: Layout): DkimKey[] {
  const text = readText(stateFile(l));
  if (!text) return [];
  const data = JSON.parse(text) as { keys?: DkimKey[] };
  return Array.isArray(data.keys) ? data.keys : [];
}

export function saveDkimKeys(l: Layout, keys: DkimKey[]): void {
  ensureDir(l.configDir, { mode: 0o755, uid: 0, gid: 0 });
  const sorted = [...keys].sort((a, b) => (a.domain + a.selector < b.domain + b.selector ? -1 : 1));
  writeAtomic(stateFile(l), `${JSON.stringify({ version: 1, keys: sorted }, null, 1)}\n`, { mode: 0o644, uid: 0, gid: 0 });
}

const day = (now: Date) => now.toISOString().slice(0, 10).replace(/-/g, '');

/** A selector no key of the domain ever had: <base>[-YYYYMMDD[b..]][-ed25519]. */
export function newSelector(base: string, algorithm: DkimAlgorithm, taken: string[], now: Date, rotation: boolean): string {
  const alg = algorithm === 'ed25519' ? '-ed25519' : '';
  const candidates = [...(rotation ? [] : [`${base}${alg}`]), `${base}-${day(now)}${alg}`];
  for (const c of 'bcdefghijklmnopqrstuvwxyz') candidates.push(`${base}-${day(now)}${c}${alg}`);
  const free = candidates.find((c) => !taken.includes(c));
  if (!free) throw new Error('no free DKIM selector today');
  return free;
}

function createKey(l: Layout, domain: string, selector: string, algorithm: DkimAlgorithm, state: DkimKeyState, now: Date): DkimKey {
  const pair = generateDkimKey(algorithm);
  ensureDir(dkimSecretsDir(l), { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  ensureDir(domainDir(l, domain), { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  writeAtomic(privateKeyPath(l, { domain, selector }), pair.privatePem, { mode: 0o600, uid: 0, gid: 0 });
  return { domain, selector, algorithm, publicKey: pair.publicKey, state, created: now.toISOString() };
}

/**
 * Keys for what the settings ask: an active key per mail domain and configured algorithm
 * (created when missing); active keys of an algorithm no longer configured start retiring.
 * Returns the list and whether it changed (then it is saved).
 */
export function ensureDkimKeys(s: Settings, l: Layout, now = new Date()): { keys: DkimKey[]; changed: boolean } {
  const keys = loadDkimKeys(l);
  if (!s.features.dkim) return { keys, changed: false };
  let changed = false;
  for (const domain of mailDomains(s)) {
    for (const algorithm of s.dns.dkimAlgorithms) {
      if (keys.some((k) => k.domain === domain && k.algorithm === algorithm && k.state === 'active')) continue;
      const taken = keys.filter((k) => k.domain === domain).map((k) => k.selector);
      keys.push(createKey(l, domain, newSelector(s.dns.dkimSelector, algorithm, taken, now, false), algorithm, 'active', now));
      changed = true;
    }
  }
  for (const k of keys) {
    if (k.state === 'active' && !s.dns.dkimAlgorithms.includes(k.algorithm)) {
      k.state = 'retiring';
      k.retired = now.toISOString();
      changed = true;
    }
  }
  if (changed) saveDkimKeys(l, keys);
  return { keys, changed };
}

/** New pending keys for a rotation (one per configured algorithm), unless some are pending already. */
export function pendingKeys(s: Settings, l: Layout, domain: string, now = new Date()): DkimKey[] {
  const keys = loadDkimKeys(l);
  const pending = keys.filter((k) => k.domain === domain && k.state === 'pending');
  if (pending.length) return pending;
  const taken = keys.filter((k) => k.domain === domain).map((k) => k.selector);
  const created: DkimKey[] = [];
  for (const algorithm of s.dns.dkimAlgorithms) {
    const k = createKey(l, domain, newSelector(s.dns.dkimSelector, algorithm, [...taken, ...created.map((c) => c.selector)], now, true), algorithm, 'pending', now);
    created.push(k);
  }
  saveDkimKeys(l, [...keys, ...created]);
  return created;
}

/** Pending keys of `domain` start signing; the active ones they replace start retiring. */
export function switchKeys(l: Layout, domain: string, now = new Date()): { activated: DkimKey[]; retired: DkimKey[] } {
  const keys = loadDkimKeys(l);
  const activated = keys.filter((k) => k.domain === domain && k.state === 'pending');
  const algorithms = new Set(activated.map((k) => k.algorithm));
  const retired = keys.filter((k) => k.domain === domain && k.state === 'active' && algorithms.has(k.algorithm));
  for (const k of retired) {
    k.state = 'retiring';
    k.retired = now.toISOString();
  }
  for (const k of activated) k.state = 'active';
  saveDkimKeys(l, keys);
  return { activated, retired };
}

/** Retiring keys whose grace period has ended. */
export function expiredKeys(keys: DkimKey[], graceDays: number, now = new Date()): DkimKey[] {
  return keys.filter((k) => k.state === 'retiring' && Date.parse(k.retired ?? k.created) + graceDays * 86_400_000 <= now.getTime());
}

export function forgetKey(l: Layout, key: DkimKey): void {
  removeTree(privateKeyPath(l, key));
  removeTree(rspamdKeyPath(l, key));
  saveDkimKeys(l, loadDkimKeys(l).filter((k) => !(k.domain === key.domain && k.selector === key.selector)));
}

/**
 * Give the signing keys to the daemon that signs (uid/gid), in the format it reads; null
 * (no signer) leaves them to root. Run at every converge: switching spam_filter changes hands.
 */
export function handKeysTo(l: Layout, keys: DkimKey[], signer: { uid: number; gid: number } | null, rspamdFormat: boolean): void {
  const uid = signer?.uid ?? 0;
  const gid = signer?.gid ?? 0;
  for (const k of keys) {
    const pem = privateKeyPath(l, k);
    const text = readText(pem);
    if (text === null) continue;
    writeAtomic(pem, text, { mode: 0o600, uid, gid });
    const rspamd = rspamdKeyPath(l, k);
    if (rspamdFormat && k.algorithm === 'ed25519') writeAtomic(rspamd, rspamdEd25519Key(text), { mode: 0o600, uid, gid });
    else if (exists(rspamd)) removeTree(rspamd);
  }
}

/** Key directories that no key uses any more (a domain removed and its keys retired). */
export function pruneKeyDirs(l: Layout, keys: DkimKey[]): void {
  for (const d of listDir(dkimSecretsDir(l))) {
    if (!keys.some((k) => k.domain === d) && statOrNull(join(dkimSecretsDir(l), d))?.isDirectory()) removeTree(join(dkimSecretsDir(l), d));
  }
}

export { chownTree };
