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
import { procdSupervises, procdInstances, instanceLines, runInitScript, startInBackgroundThroughProcd } from './procd.ts';
import { mailHeldReason } from './signing.ts';
import type { Accounts } from '../store/accounts.ts';
import type { Context } from '../core/context.ts';

export function assertHostRuntime(ctx: Pick<Context, 'settings'>): void {
  if (ctx.settings.main.runtime !== 'host') {
    throw new MailError('not_implemented', `main.runtime 'lxc' (container '${ctx.settings.main.container}') is not implemented yet (planned with \`install\`); set \`uci set mailserver.main.runtime=host\``);
  }
}

/** Render and write every generated file; reload the running daemons whose files changed. */
export function apply(ctx: Context, accounts: Accounts = loadAccounts(ctx.layout), facts = knownFacts(ctx.layout), declaringInstances = false): ConvergeReport & { reloaded: string[] } {
  assertHostRuntime(ctx);
  assertCurrentFormat(ctx.layout);
  const report = writeGenerated(renderAll(ctx, hostView(ctx.layout, facts), accounts), facts.mapType, ctx.layout.postfixConfigDir);
  return { ...report, reloaded: reloadDaemons(ctx.layout, report.reload, ctx.settings, declaringInstances) };
}

/** Reload running daemons (no restart): they re-read their configuration and certificate files. */
export function reload(ctx: Context, services: Service[]): Service[] {
  assertHostRuntime(ctx);
  return reloadDaemons(ctx.layout, services);
}

export function applyFull(ctx: Context, declaringInstances = false) {
  assertHostRuntime(ctx);
  // Before anything touches the disk: preparing directories would re-own a legacy mail tree.
  assertCurrentFormat(ctx.layout);
  const facts = learnFacts(ctx.layout);
  assertDovecotSupported(facts.dovecotVersion);
  prepareDirectories(ctx.layout);
  markFormatIfNew(ctx);
  return apply(ctx, undefined, facts, declaringInstances);
}

function markFormatIfNew(ctx: Context): void {
  assertCurrentFormat(ctx.layout);
  markFormat(ctx.layout);
}

export async function start(ctx: Context) {
  // Inside another write (a restore): procd's start runs once that write is done.
  if (procdSupervises()) return (startInBackgroundThroughProcd(ctx.layout), { ...(await status(ctx)), changed: [] as string[], certificateCreated: false });
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
  if (procdSupervises()) return stopThroughProcd(ctx);
  clearWanted();
  stopDaemons(ctx.layout);
  return status(ctx);
}

/** SIGTERM, then postfix's 30 s term_timeout, then SIGKILL; with room on a busy router. */
const PROCD_STOP_MS = 60_000;
/** procd starts the instances when the script returns; within LuCI's 20 s with the rendering. */
const PROCD_START_MS = 10_000;

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 250))) {
    if (Date.now() > deadline) return false;
  }
  return true;
}

/**
 * On a router (outside the write lock: the init script's mailctl renders under it): the init
 * script renders, declares the instances, and procd starts them.
 */
export async function startThroughProcd(ctx: Context) {
  assertHostRuntime(ctx);
  if (!ctx.settings.main.enabled) {
    throw new MailError('conflict', 'mailserver.main.enabled is 0, so procd starts nothing: uci set mailserver.main.enabled=1; uci commit mailserver');
  }
  runInitScript('start');
  await waitFor(() => serviceStates(ctx.layout).every((s) => s.running), PROCD_START_MS);
  return { ...(await status(ctx)), changed: [] as string[], certificateCreated: false };
}

/** On a router: procd ends the instances after the script returned (SIGTERM, SIGKILL after term_timeout). */
export async function stopThroughProcd(ctx: Context) {
  assertHostRuntime(ctx);
  runInitScript('stop');
  await waitFor(() => serviceStates(ctx.layout).every((s) => !s.running), PROCD_STOP_MS);
  return status(ctx);
}

/**
 * What /etc/init.d/mailserver asks for (`mailctl procd-instances`): render everything (and the
 * first certificate), mark the server wanted, and the instances procd should run, one a line.
 */
export function declareInstances(ctx: Context): string {
  applyFull(ctx, true);
  ensureCertificate(ctx.layout, mailHost(ctx.settings));
  markWanted();
  // The bundle running now (mailctl) runs the ban watcher too.
  return instanceLines(procdInstances(ctx.layout, ctx.settings, [process.execPath, process.argv[1]!]));
}

/** The init script's stop (`mailctl procd-stop`): tick must not start what procd stops. */
export function instancesStopped(): void {
  clearWanted();
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
    /** Why mail is held (deferred, refused with 4xx) right now, or null. */
    held: services.find((s) => s.name === 'postfix')?.running ? mailHeldReason(ctx.layout, ctx.settings) : null,
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
  // Under procd: an instance procd gave up on (a crash loop) starts again when the init script
  // declares it anew.
  const restart = procdSupervises() ? () => runInitScript('start') : undefined;
  return healDaemons(ctx.layout, ctx.settings, restart).map((r) => ({ ...r, text: restartText(r) }));
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
