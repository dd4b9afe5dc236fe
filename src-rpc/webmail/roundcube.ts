// Roundcube pointed at this server: our block in its config.inc.php (webmail.config_path, as the
// router sees the file: a container's lives under its rootfs), the pinned certificate next to
// it, and what Roundcube itself shows (its login page on webmail.url / webmail.port, its log).
import { dirname, join } from 'node:path';
import { readText, writeAtomic, statOrNull, ensureDir, removeStaleTemps } from '../sys/fs.ts';
import { hostPath } from '../sys/paths.ts';
import { randomSecret } from '../sys/crypto.ts';
import { httpGet } from '../sys/http-probe.ts';
import { leafOf, describe } from '../sys/x509.ts';
import { MailError } from '../core/errors.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { chainFile } from '../ssl/files.ts';
import { mailHost, type Settings } from '../config/settings.ts';
import { renderRoundcubeBlock, withRoundcubeBlock, findRoundcubeBlock, PINNED_CERT_FILE, type Endpoint, type RoundcubeView } from '../render/roundcube.ts';
import type { Context } from '../core/context.ts';

type Locker = <T>(fn: () => Promise<T> | T) => Promise<T>;

/** 24 characters: what Roundcube's default cipher (des-ede3-cbc) wants. */
const DES_KEY_BYTES = 18;
const desKeyFile = (l: Layout) => join(l.secretsDir, 'roundcube-des-key');

export interface Endpoints {
  imap: Endpoint;
  smtp: Endpoint;
  sieve: Endpoint | null;
}

/** Where Roundcube must connect: implicit TLS where it is on, STARTTLS otherwise; never plaintext. */
export function endpointsFor(s: Settings): Endpoints {
  const host = mailHost(s);
  const p = s.ports;
  const imap: Endpoint | null = p.imaps ? { scheme: 'ssl', host, port: p.imaps } : p.imap ? { scheme: 'tls', host, port: p.imap } : null;
  const smtp: Endpoint | null = p.submission ? { scheme: 'tls', host, port: p.submission } : p.smtps ? { scheme: 'ssl', host, port: p.smtps } : null;
  if (!imap) throw new MailError('invalid_argument', 'webmail needs IMAP: ports.imaps and ports.imap are both 0', 'ports.imaps');
  if (!smtp) throw new MailError('invalid_argument', 'webmail needs submission: ports.submission and ports.smtps are both 0', 'ports.submission');
  return { imap, smtp, sieve: p.sieve ? { scheme: 'tls', host, port: p.sieve } : null };
}

const configFile = (s: Settings) => hostPath(s.webmail.configPath);
const pinnedFile = (s: Settings) => join(dirname(configFile(s)), PINNED_CERT_FILE);

/** The served leaf certificate, and whether Roundcube must pin it (self-signed: no CA vouches). */
function servedLeaf(l: Layout): { pem: string; selfSigned: boolean } | null {
  const chain = readText(chainFile(l));
  const leaf = chain ? leafOf(chain) : null;
  return leaf ? { pem: leaf.toString(), selfSigned: describe(leaf).selfSigned } : null;
}

function view(s: Settings, desKey: string, pin: boolean): RoundcubeView {
  return { ...endpointsFor(s), pinCertificate: pin, desKey, productName: s.webmail.productName, usernameDomain: s.main.domain };
}

export interface ConfigureResult {
  configPath: string;
  /** Files written this time (empty: everything was already so). */
  changed: string[];
  pinnedCertificate: boolean;
  status: WebmailStatus;
}

export async function configureWebmail(ctx: Context, lock: Locker): Promise<ConfigureResult> {
  const s = ctx.settings;
  if (!s.webmail.enabled) throw new MailError('unsupported', 'webmail is switched off (webmail.enabled is 0): `uci set mailserver.webmail.enabled=1` first', 'webmail.enabled');
  const file = configFile(s);
  ctx.progress(10, `reading ${s.webmail.configPath}`);
  const changed = await lock(() => {
    const text = readText(file);
    const st = statOrNull(file);
    if (text === null || !st) {
      throw new MailError('not_found', `Roundcube is not installed here: ${s.webmail.configPath} does not exist (install roundcube, or set webmail.config_path to its config.inc.php)`, 'webmail.config_path');
    }
    const leaf = servedLeaf(ctx.layout);
    if (!leaf) throw new MailError('not_found', 'there is no certificate yet for Roundcube to verify: run `mailctl install` or `mailctl ssl-setup` first');
    // A copy of the file (des_key inside) left by a writer killed mid-way: we hold the lock.
    removeStaleTemps(dirname(file));
    const written: string[] = [];
    ctx.progress(30, 'des_key');
    const desKey = ensureDesKey(ctx.layout, written);
    // Roundcube's files keep the owner's ownership (Debian: root:www-data 0640).
    const own = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (leaf.selfSigned && writeAtomic(pinnedFile(s), leaf.pem, { mode: 0o644, uid: st.uid, gid: st.gid })) written.push(pinnedFile(s));
    ctx.progress(50, `writing our block in ${s.webmail.configPath}`);
    let next: string;
    try {
      next = withRoundcubeBlock(text, renderRoundcubeBlock(view(s, desKey, leaf.selfSigned)));
    } catch (e) {
      throw new MailError('conflict', `${s.webmail.configPath}: ${(e as Error).message}`, 'webmail.config_path');
    }
    if (writeAtomic(file, next, own)) written.push(file);
    return written;
  });
  ctx.progress(80, 'asking Roundcube');
  return { configPath: s.webmail.configPath, changed, pinnedCertificate: servedLeaf(ctx.layout)?.selfSigned ?? false, status: await webmailStatus(ctx) };
}

function ensureDesKey(l: Layout, written: string[]): string {
  const existing = readText(desKeyFile(l))?.trim();
  if (existing && /^[A-Za-z0-9_-]{24}$/.test(existing)) return existing;
  const key = randomSecret(DES_KEY_BYTES);
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE });
  writeAtomic(desKeyFile(l), `${key}\n`, { mode: 0o600, uid: 0, gid: 0 });
  written.push(desKeyFile(l));
  return key;
}

// ---- status ----

export type WebmailState = 'not_installed' | 'not_configured' | 'stale' | 'not_running' | 'ok';

export interface WebmailStatus {
  state: WebmailState;
  /** One sentence for people. */
  summary: string;
  enabled: boolean;
  container: string;
  configPath: string;
  /** Roundcube's config.inc.php exists. */
  installed: boolean;
  /** Our block: absent, as `configure` would write it now, or different (settings, key or certificate changed). */
  block: 'absent' | 'current' | 'stale';
  /** Settings the owner sets again after our block, which win over ours. */
  overridden: string[];
  /** What the block points Roundcube at. */
  endpoints: { imap: string; smtp: string; sieve: string | null; certificate: 'pinned' | 'system CAs' } | null;
  http: { url: string; reached: boolean; loginPage: boolean; version: string | null; productName: string | null; error: string | null };
  /** The last failed login or IMAP/SMTP error Roundcube logged (webmail.log_path). */
  lastLoginError: string | null;
  /** What the page links to; null = http://<this router>:<port>/. */
  url: string | null;
  port: number;
}

const OUR_KEYS = ['imap_host', 'imap_conn_options', 'smtp_host', 'smtp_conn_options', 'managesieve_host', 'managesieve_conn_options', 'des_key'];

function blockState(ctx: Context, text: string): { block: WebmailStatus['block']; overridden: string[] } {
  let found: string | null;
  try {
    found = findRoundcubeBlock(text);
  } catch {
    return { block: 'stale', overridden: [] };
  }
  if (found === null) return { block: 'absent', overridden: [] };
  const after = text.slice(text.indexOf(found) + found.length);
  const overridden = OUR_KEYS.filter((k) => new RegExp(`\\$config\\s*\\[\\s*['"]${k}['"]\\s*\\]\\s*=`).test(after));
  const desKey = readText(desKeyFile(ctx.layout))?.trim();
  const leaf = servedLeaf(ctx.layout);
  if (!desKey || !leaf) return { block: 'stale', overridden };
  let expected: string;
  try {
    expected = renderRoundcubeBlock(view(ctx.settings, desKey, leaf.selfSigned));
  } catch {
    return { block: 'stale', overridden };
  }
  const pinnedOk = !leaf.selfSigned || readText(pinnedFile(ctx.settings)) === leaf.pem;
  return { block: found === expected && pinnedOk ? 'current' : 'stale', overridden };
}

/** The version in Roundcube's page environment ("rcversion":10605 → 1.6.5). */
function roundcubeVersion(body: string): string | null {
  const m = /"rcversion"\s*:\s*(\d{5,})/.exec(body);
  if (!m) return null;
  const n = Number(m[1]);
  return `${Math.floor(n / 10000)}.${Math.floor(n / 100) % 100}.${n % 100}`;
}

async function probe(s: Settings): Promise<WebmailStatus['http']> {
  const url = s.webmail.url ?? `http://127.0.0.1:${s.webmail.port}/`;
  const a = await httpGet(url);
  if (!a.ok) return { url, reached: false, loginPage: false, version: null, productName: null, error: a.error };
  const loginPage = /"task"\s*:\s*"login"/.test(a.body) && /"request_token"/.test(a.body);
  const title = /<title>([^<]*)<\/title>/i.exec(a.body)?.[1] ?? null;
  return {
    url,
    reached: true,
    loginPage,
    version: roundcubeVersion(a.body),
    productName: title ? title.split(' :: ')[0]!.trim() : null,
    error: loginPage ? null : `HTTP ${a.status}: not Roundcube's login page`,
  };
}

const LOGIN_ERROR = /Login failed|IMAP Error|SMTP Error|managesieve|Failed to establish|certificate verify failed|Unable to connect/i;

function lastLoginError(s: Settings): string | null {
  const text = readText(hostPath(s.webmail.logPath));
  if (!text) return null;
  const lines = text.split('\n').filter((l) => LOGIN_ERROR.test(l));
  const last = lines[lines.length - 1];
  return last ? last.trim().slice(0, 500) : null;
}

export async function webmailStatus(ctx: Context): Promise<WebmailStatus> {
  const s = ctx.settings;
  const text = readText(configFile(s));
  const { block, overridden } = text === null ? { block: 'absent' as const, overridden: [] } : blockState(ctx, text);
  let endpoints: WebmailStatus['endpoints'] = null;
  if (block !== 'absent') {
    try {
      const e = endpointsFor(s);
      const u = (x: Endpoint) => `${x.scheme}://${x.host}:${x.port}`;
      endpoints = { imap: u(e.imap), smtp: u(e.smtp), sieve: e.sieve ? u(e.sieve) : null, certificate: servedLeaf(ctx.layout)?.selfSigned ? 'pinned' : 'system CAs' };
    } catch {
      endpoints = null;
    }
  }
  const http = await probe(s);
  const installed = text !== null;
  const state: WebmailState = !installed
    ? 'not_installed'
    : block === 'absent'
      ? 'not_configured'
      : block === 'stale' || overridden.length
        ? 'stale'
        : !http.loginPage
          ? 'not_running'
          : 'ok';
  const summary = {
    not_installed: `Roundcube is not installed (${s.webmail.configPath} does not exist)`,
    not_configured: `Roundcube is installed but not pointed at this server: run \`mailctl webmail configure\``,
    stale: overridden.length
      ? `Roundcube's configuration sets ${overridden.join(', ')} again after our block: remove those lines`
      : 'Roundcube points at this server with old settings (ports, host, key or certificate changed): run `mailctl webmail configure`',
    not_running: `Roundcube is configured but its login page does not answer at ${http.url}${http.error ? ` (${http.error})` : ''}`,
    ok: `Roundcube${http.version ? ` ${http.version}` : ''} answers at ${http.url} and uses this server over TLS`,
  }[state];
  return {
    state,
    summary,
    enabled: s.webmail.enabled,
    container: s.webmail.container,
    configPath: s.webmail.configPath,
    installed,
    block,
    overridden,
    endpoints,
    http,
    lastLoginError: lastLoginError(s),
    url: s.webmail.url,
    port: s.webmail.port,
  };
}
