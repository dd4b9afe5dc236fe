// The served TLS certificate: obtain or install it (ssl-setup, by ssl.type), renew it when due
// (ssl-renew, tick), and report it with what every listener presents (ssl-status).
//
//   letsencrypt  ACME DNS-01 (ssl/acme.ts) for the mail host and ssl.extra_name
//   manual       ssl.cert_path / ssl.key_path, checked, then installed
//   selfsigned   made here (the first start makes one whatever the type: runtime/certificate.ts)
//
// A new pair replaces the served one only after it is checked (ssl/files.ts); then Postfix and
// Dovecot reload. Anything failing before that leaves the previous certificate serving.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { mailHost, type Settings } from '../config/settings.ts';
import { readText, writeAtomic, ensureDir } from '../sys/fs.ts';
import { withLock } from '../sys/lock.ts';
import { hostPath } from '../sys/paths.ts';
import { covers, generatePrivateKey, CertificateProblem, type CertificateInfo } from '../sys/x509.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { installCertificate, servedCertificate, sourceNote, type SourceNote, type Installed } from './files.ts';
import { listenerCertificates, waitForListeners, type ListenerCertificate } from './listeners.ts';
import { selfSignedPair } from './selfsigned.ts';
import { loadAcme } from './load-acme.ts';
import { dns01Hooks } from './dns01.ts';
import type { Context } from '../core/context.ts';

/** Runs `fn` holding the write lock (jobs), or as is when the caller holds it already (tick). */
export type Locker = <T>(fn: () => Promise<T> | T) => Promise<T>;

/** A scheduled renewal that failed is not tried again before this (CA rate limits). */
const RETRY_AFTER_FAILURE_MS = 6 * 3600_000;

export const certificateNames = (s: Settings): string[] => [...new Set([mailHost(s), ...s.ssl.extraNames])];

const accountKeyFile = (l: Layout) => join(l.secretsDir, 'acme-account.pem');
const renewStateFile = (l: Layout) => join(l.stateDir, 'ssl-renew.json');

export interface CertificateSummary extends CertificateInfo {
  daysLeft: number;
  /** Who put it there, when we did (null: the first-start file or one put there by hand). */
  source: SourceNote['source'] | null;
}

/** The certificate the files hold now (the overview's and ssl-status's view of it). */
export function certificateSummary(l: Layout, now = Date.now()): CertificateSummary | null {
  const info = servedCertificate(l);
  if (!info) return null;
  return { ...info, daysLeft: Math.floor((Date.parse(info.validTo) - now) / 86_400_000), source: sourceNote(l)?.source ?? null };
}

/** The ACME account key: made once (ECDSA P-256), kept 0600 in data_path/secrets, reused. */
function accountKey(l: Layout): string {
  const existing = readText(accountKeyFile(l));
  if (existing) return existing;
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  const pem = generatePrivateKey('ec256');
  writeAtomic(accountKeyFile(l), pem, { mode: 0o600, uid: 0, gid: 0 });
  return pem;
}

/** Job-log lines: into the log of a detached job, not over a person's progress line. */
function jobLog(line: string): void {
  if (!process.stderr.isTTY) process.stderr.write(`${line}\n`);
}

export interface SetupResult {
  type: Settings['ssl']['type'];
  /** False when the files already held this pair (nothing replaced). */
  installed: boolean;
  certificate: CertificateSummary;
  reloaded: string[];
  listeners: ListenerCertificate[];
  warnings: string[];
}

async function installAndReload(ctx: Context, lock: Locker, chainPem: string, keyPem: string, note: Omit<SourceNote, 'installed'>, warnings: string[], alwaysReload: boolean): Promise<SetupResult> {
  ctx.progress(90, 'checking and installing the certificate');
  const { installed, reloaded } = await lock(() => {
    let result: Installed;
    try {
      result = installCertificate(ctx.layout, chainPem, keyPem, note);
    } catch (e) {
      if (e instanceof CertificateProblem) {
        const field = note.source === 'manual' ? 'ssl.cert_path' : undefined;
        throw new MailError(note.source === 'manual' ? 'invalid_argument' : 'daemon_error', `${note.source === 'manual' ? `${ctx.settings.ssl.certPath}: ` : ''}${e.message}; the previous certificate keeps serving`, field);
      }
      throw e;
    }
    return { installed: result, reloaded: result.changed || alwaysReload ? ctx.daemons.reload(ctx, ['postfix', 'dovecot']) : [] };
  });
  const missing = certificateNames(ctx.settings).filter((n) => !covers(installed.leaf.names, n));
  if (missing.length) warnings.push(`the certificate does not cover ${missing.join(', ')} (it names ${installed.leaf.names.join(', ')})`);
  ctx.progress(95, 'checking what the listeners present');
  const listeners = reloaded.length ? await waitForListeners(ctx.settings, installed.leaf.fingerprint256) : [];
  return { type: ctx.settings.ssl.type, installed: installed.changed, certificate: certificateSummary(ctx.layout)!, reloaded, listeners, warnings };
}

async function obtainFromAcme(ctx: Context, lock: Locker): Promise<SetupResult> {
  const s = ctx.settings;
  const names = certificateNames(s);
  // One order at a time (ssl-setup, ssl-renew and tick may race); the write lock is not held
  // while the CA and the DNS take their time, only around the installation.
  return withLock('acme-order', 0, async () => {
    ctx.progress(5, 'ACME account key');
    const accountKeyPem = accountKey(ctx.layout);
    ctx.progress(7, `new ${s.ssl.keyType} certificate key`);
    const certificateKeyPem = generatePrivateKey(s.ssl.keyType);
    const acme = await loadAcme();
    jobLog(`ACME order at ${s.ssl.acmeDirectory} for ${names.join(', ')}`);
    let issued: { chainPem: string; warnings: string[] };
    try {
      issued = await acme.orderCertificate({
        directory: s.ssl.acmeDirectory,
        accountKeyPem,
        email: s.ssl.acmeEmail,
        names,
        certificateKeyPem,
        dns: dns01Hooks(ctx, jobLog),
        progress: ctx.progress,
        log: jobLog,
      });
    } catch (e) {
      if ((e as Error)?.name === 'AcmeFailure') throw new MailError('daemon_error', `${(e as Error).message}; the previous certificate keeps serving`);
      throw e;
    }
    return installAndReload(ctx, lock, issued.chainPem, certificateKeyPem, { source: 'letsencrypt', directory: s.ssl.acmeDirectory }, issued.warnings, true);
  });
}

function readManual(s: Settings): { chainPem: string; keyPem: string } {
  const chainPem = readText(hostPath(s.ssl.certPath));
  if (chainPem === null) throw new MailError('not_found', `ssl.cert_path ${s.ssl.certPath} does not exist; the previous certificate keeps serving`, 'ssl.cert_path');
  const keyPem = readText(hostPath(s.ssl.keyPath));
  if (keyPem === null) throw new MailError('not_found', `ssl.key_path ${s.ssl.keyPath} does not exist; the previous certificate keeps serving`, 'ssl.key_path');
  return { chainPem, keyPem };
}

/** Obtain (letsencrypt), make (selfsigned) or check and install (manual) the certificate; reload. */
export async function sslSetup(ctx: Context, lock: Locker): Promise<SetupResult> {
  const s = ctx.settings;
  switch (s.ssl.type) {
    case 'letsencrypt':
      return obtainFromAcme(ctx, lock);
    case 'manual': {
      ctx.progress(10, `checking ${s.ssl.certPath} and ${s.ssl.keyPath}`);
      const { chainPem, keyPem } = readManual(s);
      return installAndReload(ctx, lock, chainPem, keyPem, { source: 'manual' }, [], true);
    }
    case 'selfsigned': {
      ctx.progress(10, 'making a self-signed certificate');
      const { chainPem, keyPem } = selfSignedPair(ctx.layout, certificateNames(s), s.ssl.keyType);
      return installAndReload(ctx, lock, chainPem, keyPem, { source: 'selfsigned' }, [], true);
    }
  }
}

export interface Due {
  due: boolean;
  reason: string;
}

/** Is a renewal due? Only for what this type renews; a reason either way. */
export function renewalDue(ctx: Context, now = Date.now()): Due {
  const s = ctx.settings;
  const l = ctx.layout;
  const cert = certificateSummary(l, now);
  const names = certificateNames(s);
  const missing = cert ? names.filter((n) => !covers(cert.names, n)) : names;
  const days = cert ? `${cert.daysLeft} days left` : '';
  const window = `renews when fewer than ${s.ssl.renewDays} days remain (ssl.renew_days)`;
  switch (s.ssl.type) {
    case 'letsencrypt': {
      const note = sourceNote(l);
      if (!cert || note?.source !== 'letsencrypt') return { due: false, reason: 'the served certificate was not issued by ACME: run `mailctl ssl-setup` first' };
      if (cert.daysLeft < s.ssl.renewDays) return { due: true, reason: `${days}; ${window}` };
      if (missing.length) return { due: true, reason: `the certificate does not cover ${missing.join(', ')}` };
      if (cert.keyType !== s.ssl.keyType) return { due: true, reason: `its key is ${cert.keyType}, ssl.key_type is ${s.ssl.keyType}` };
      if (note.directory && note.directory !== s.ssl.acmeDirectory) return { due: true, reason: `it was issued through ${note.directory}, ssl.acme_directory is ${s.ssl.acmeDirectory}` };
      return { due: false, reason: `${days}; ${window}` };
    }
    case 'manual': {
      const chain = readText(hostPath(s.ssl.certPath));
      const key = readText(hostPath(s.ssl.keyPath));
      if (chain === null || key === null) return { due: false, reason: `ssl.cert_path / ssl.key_path missing (${s.ssl.certPath}, ${s.ssl.keyPath})` };
      const servedChain = readText(join(l.sslDir, 'fullchain.pem'));
      const servedKey = readText(join(l.sslDir, 'privkey.pem'));
      if (chain !== servedChain || key !== servedKey) return { due: true, reason: `${s.ssl.certPath} or ${s.ssl.keyPath} changed` };
      return { due: false, reason: `the served pair is ${s.ssl.certPath} and ${s.ssl.keyPath}${cert ? ` (${days})` : ''}` };
    }
    case 'selfsigned': {
      if (!cert) return { due: true, reason: 'there is no certificate' };
      if (!cert.selfSigned) return { due: true, reason: 'ssl.type is selfsigned but the served certificate is not' };
      if (cert.daysLeft < s.ssl.renewDays) return { due: true, reason: `${days}; ${window}` };
      if (missing.length) return { due: true, reason: `the certificate does not cover ${missing.join(', ')}` };
      return { due: false, reason: `${days}; ${window}` };
    }
  }
}

interface RenewState {
  at: string;
  ok: boolean;
  error?: string;
}

function readRenewState(l: Layout): RenewState | null {
  const text = readText(renewStateFile(l));
  try {
    return text ? (JSON.parse(text) as RenewState) : null;
  } catch {
    return null;
  }
}

function writeRenewState(l: Layout, state: RenewState): void {
  ensureDir(l.stateDir, { mode: 0o755 });
  writeAtomic(renewStateFile(l), `${JSON.stringify(state)}\n`, { mode: 0o644, uid: 0, gid: 0 });
}

export type RenewResult = ({ renewed: false } | ({ renewed: true } & SetupResult)) & { reason: string };

/**
 * Renew when due (or forced). `scheduled` (tick) waits RETRY_AFTER_FAILURE_MS after a failed
 * attempt before trying again, so a CA that refuses is not asked every quarter of an hour.
 */
export async function sslRenew(ctx: Context, opts: { force?: boolean; scheduled?: boolean; lock: Locker }): Promise<RenewResult> {
  const due = renewalDue(ctx);
  if (!opts.force && !due.due) return { renewed: false, reason: due.reason };
  if (opts.scheduled) {
    // Unattended, nobody is there to create a record by hand (and tick holds the write lock).
    if (ctx.settings.ssl.type === 'letsencrypt' && ctx.settings.dns.provider === 'manual') {
      return { renewed: false, reason: `${due.reason}; dns.provider is manual: renew by hand with \`mailctl ssl-renew\` (it shows the TXT record to create)` };
    }
    const last = readRenewState(ctx.layout);
    if (last && !last.ok && Date.now() - Date.parse(last.at) < RETRY_AFTER_FAILURE_MS) {
      const next = new Date(Date.parse(last.at) + RETRY_AFTER_FAILURE_MS).toISOString();
      return { renewed: false, reason: `${due.reason}; the last attempt (${last.at}) failed: ${last.error}; next attempt after ${next}` };
    }
  }
  const reason = opts.force ? `forced (${due.reason})` : due.reason;
  ctx.progress(2, `renewing: ${reason}`);
  try {
    const r = await sslSetup(ctx, opts.lock);
    writeRenewState(ctx.layout, { at: new Date().toISOString(), ok: true });
    return { renewed: true, reason, ...r };
  } catch (e) {
    // Another order running is not a failed attempt (no back-off for it).
    if ((e as Error)?.name !== 'LockBusyError') writeRenewState(ctx.layout, { at: new Date().toISOString(), ok: false, error: e instanceof Error ? e.message : String(e) });
    throw e;
  }
}

export interface StatusResult {
  type: Settings['ssl']['type'];
  /** Names the certificate should cover (mail host, ssl.extra_name). */
  names: string[];
  certificate: CertificateSummary | null;
  missingNames: string[];
  renewal: Due & { renewDays: number; lastAttempt: RenewState | null };
  listeners: ListenerCertificate[];
  /** Every enabled listener presents the file's certificate. */
  allMatch: boolean;
}

export async function sslStatus(ctx: Context): Promise<StatusResult> {
  const s = ctx.settings;
  const cert = certificateSummary(ctx.layout);
  const names = certificateNames(s);
  const listeners = await listenerCertificates(s, cert?.fingerprint256 ?? null);
  return {
    type: s.ssl.type,
    names,
    certificate: cert,
    missingNames: cert ? names.filter((n) => !covers(cert.names, n)) : names,
    renewal: { ...renewalDue(ctx), renewDays: s.ssl.renewDays, lastAttempt: readRenewState(ctx.layout) },
    listeners,
    allMatch: listeners.length > 0 && listeners.every((l) => l.state === 'match'),
  };
}
