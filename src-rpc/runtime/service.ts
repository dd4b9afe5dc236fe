// Start, stop, apply and status of the mail service as a whole, for whichever runtime the
// settings name. Features call these and never ask which runtime they run on.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { assertDovecotSupported } from '../render/dovecot.ts';
import { loadAccounts, assertCurrentFormat, markFormat } from '../store/files.ts';
import { mailHost, postmasterAddress } from '../config/settings.ts';
import { run } from '../sys/spawn.ts';
import { readText } from '../sys/fs.ts';
import { deliveryOutcome } from './mail-log.ts';
import { learnFacts, knownFacts } from './facts.ts';
import { ensureCertificate } from './certificate.ts';
import { renderAll, writeGenerated, type ConvergeReport, type Service } from './converge.ts';
import { hostView, prepareDirectories, startDaemons, stopDaemons, reloadDaemons, serviceStates, portStates } from './host.ts';
import { virusScanState } from './clamav.ts';
import { unimplementedOptionNotices } from '../config/notices.ts';
import { readBans } from './ban-watcher.ts';
import { keepChangesSoFar } from '../core/write-lock.ts';
import { markWanted, clearWanted, recentRestarts, restartText, heal as healDaemons } from './supervise.ts';
import type { Accounts } from '../store/accounts.ts';
import type { Context } from '../core/context.ts';

export function assertHostRuntime(ctx: Pick<Context, 'settings'>): void {
  if (ctx.settings.main.runtime !== 'host') {
    throw new MailError('not_implemented', `main.runtime 'lxc' (container '${ctx.settings.main.container}') is not implemented yet (planned with \`install\`); set \`uci set mailserver.main.runtime=host\``);
  }
}

/** Render and write every generated file; reload the running daemons whose files changed. */
export function apply(ctx: Context, accounts: Accounts = loadAccounts(ctx.layout), facts = knownFacts(ctx.layout)): ConvergeReport & { reloaded: string[] } {
  assertHostRuntime(ctx);
  assertCurrentFormat(ctx.layout);
  const report = writeGenerated(renderAll(ctx, hostView(ctx.layout, facts), accounts), facts.mapType, ctx.layout.postfixConfigDir);
  return { ...report, reloaded: reloadDaemons(ctx.layout, report.reload, ctx.settings) };
}

/** Reload running daemons (no restart): they re-read their configuration and certificate files. */
export function reload(ctx: Context, services: Service[]): Service[] {
  assertHostRuntime(ctx);
  return reloadDaemons(ctx.layout, services);
}

export function applyFull(ctx: Context) {
  assertHostRuntime(ctx);
  // Before anything touches the disk: preparing directories would re-own a legacy mail tree.
  assertCurrentFormat(ctx.layout);
  const facts = learnFacts(ctx.layout);
  assertDovecotSupported(facts.dovecotVersion);
  prepareDirectories(ctx.layout);
  markFormatIfNew(ctx);
  return apply(ctx, undefined, facts);
}

function markFormatIfNew(ctx: Context): void {
  assertCurrentFormat(ctx.layout);
  markFormat(ctx.layout);
}

export async function start(ctx: Context) {
  const report = applyFull(ctx);
  const certificateCreated = ensureCertificate(ctx.layout, mailHost(ctx.settings));
  // Wanted from now on, also if a daemon fails to start below: tick keeps trying.
  markWanted();
  keepChangesSoFar();
  startDaemons(ctx.layout, ctx.settings);
  return { ...(await status(ctx)), changed: report.changed, certificateCreated };
}

export async function stop(ctx: Context) {
  assertHostRuntime(ctx);
  clearWanted();
  stopDaemons(ctx.layout);
  return status(ctx);
}

/** bans: when the caller needs the list too (the Overview), read once for both. */
export async function status(ctx: Context, bans = readBans(ctx.layout, ctx.settings)) {
  const services = serviceStates(ctx.layout, ctx.settings);
  const running = services.every((s) => s.running);
  return {
    runtime: ctx.settings.main.runtime,
    enabled: ctx.settings.main.enabled,
    running,
    services,
    ports: running ? await portStates(ctx.settings) : [],
    bans: bans.summary,
    logDir: ctx.layout.logDir,
    virus: virusScanState(ctx.settings, ctx.layout),
    /** Settings that have no effect here yet, and why. */
    notices: unimplementedOptionNotices(ctx.settings),
    // The last restarts tick made, newest last, each with the sentence the Overview shows.
    restarts: recentRestarts(ctx.layout).slice(-RESTARTS_SHOWN).map((r) => ({ ...r, text: restartText(r) })),
  };
}

const RESTARTS_SHOWN = 5;

/** Start what should run and does not (tick); the restarts it made. */
export function heal(ctx: Context) {
  assertHostRuntime(ctx);
  keepChangesSoFar();
  return healDaemons(ctx.layout, ctx.settings).map((r) => ({ ...r, text: restartText(r) }));
}

/** Host runtime install: the daemons are packages; check them and prepare everything else. */
export function install(ctx: Context) {
  ctx.progress(10, 'checking Postfix and Dovecot');
  const report = applyFull(ctx);
  ctx.progress(70, 'certificate');
  ensureCertificate(ctx.layout, mailHost(ctx.settings));
  const facts = knownFacts(ctx.layout);
  return { postfixVersion: facts.postfixVersion, dovecotVersion: facts.dovecotVersion, changed: report.changed };
}

/** How long `test` watches the log for the first delivery attempt (well inside rpcd's 30 s). */
const TEST_OUTCOME_WAIT_MS = 20_000;

/**
 * A plain message from the postmaster, handed to Postfix's sendmail (local pickup); then what
 * the first delivery attempt did, from mail.log (a relay refused for its certificate shows here).
 */
export async function sendTestMessage(ctx: Context, to: string) {
  const from = postmasterAddress(ctx.settings);
  const host = mailHost(ctx.settings);
  const messageId = `<test.${Date.now()}.${process.pid}@${host}>`;
  const message = [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: Test message from ${host}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This test message was sent by mailctl on ${host}.`,
    '',
  ].join('\r\n');
  const r = run(['sendmail', '-C', ctx.layout.postfixConfigDir, '-f', from, '-i', '--', to], { input: message });
  if (r.code !== 0) throw new MailError('daemon_error', `sendmail failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  const log = join(ctx.layout.logDir, 'mail.log');
  let outcome = deliveryOutcome(readText(log) ?? '', messageId);
  for (const deadline = Date.now() + TEST_OUTCOME_WAIT_MS; outcome.status === null && Date.now() < deadline; ) {
    await new Promise((res) => setTimeout(res, 250));
    outcome = deliveryOutcome(readText(log) ?? '', messageId);
  }
  return { to, from, messageId, ...outcome };
}

export function logFile(ctx: Context, service: 'postfix' | 'dovecot'): string {
  return join(ctx.layout.logDir, service === 'postfix' ? 'mail.log' : 'dovecot.log');
}
