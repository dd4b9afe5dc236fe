// Start, stop, apply and status of the mail service as a whole, for whichever runtime the
// settings name. Features call these and never ask which runtime they run on.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { assertDovecotSupported } from '../render/dovecot.ts';
import { loadAccounts, assertCurrentFormat, markFormat, ownUsersFile } from '../store/files.ts';
import { mailHost, postmasterAddress } from '../config/settings.ts';
import { readText, removeTree, NoSpaceError } from '../sys/fs.ts';
import { deliveryOutcome } from './mail-log.ts';
import { learnFacts, knownFacts, type DaemonFacts } from './facts.ts';
import { ensureCertificate } from './certificate.ts';
import { renderAll, writeGenerated, type ConvergeReport, type Service } from './converge.ts';
import { stampVmailbox } from './mailbox-add.ts';
import { hostView, prepareDirectories, startDaemons, stopDaemons, reloadDaemons, restartDaemons, serviceStates, portStates, flushQueue, type ServiceState } from './host.ts';
import {
  lxcView, containerStatus, containerServiceStates, startContainer, startContainerDaemons, restartContainerDaemons, stopContainer, reloadContainerDaemons,
  flushContainerQueue, configureContainer, assertContainerInstalled, assertOurContainer, ourContainer, containerRunning, containerClamav, reconcileContainerClamav,
  writeLxcConfig, makeRootfs, installContainerPackages, destroyContainer, containerPaths, containerMilterProbe,
} from './lxc.ts';
import { rootfsPresent } from './lxc-rootfs.ts';
import { machineFor, hostMachine } from './machine.ts';
import { virusScanState, hostClamav, type ClamavPlace } from './clamav.ts';
import { unimplementedOptionNotices } from '../config/notices.ts';
import { readBans, reconcileBans, stopBanWatcher } from './ban-watcher.ts';
import { keepChangesSoFar } from '../core/write-lock.ts';
import { markWanted, clearWanted, recentRestarts, restartText, heal as healDaemons, type Healable } from './supervise.ts';
import { procdSupervises, procdInstances, instanceLines, runInitScript, startInBackgroundThroughProcd, type ProcdInstance } from './procd.ts';
import { mailHeldReason } from './signing.ts';
import type { Accounts } from '../store/accounts.ts';
import type { RuntimeView } from '../render/view.ts';
import type { Context, Locked } from '../core/context.ts';

/**
 * What differs between daemons on the host and daemons in the container, chosen once from
 * main.runtime (runtimeOf); everything else in this file is the same for both.
 */
interface Runtime {
  /** Paths and ids as the daemons see them. */
  view(facts: DaemonFacts): RuntimeView;
  /** The daemons' states, wherever they run. */
  states(): ServiceState[];
  reload(services: Service[], declaringInstances?: boolean): Service[];
  /** Stop and start those running, for a change a reload does not apply. */
  restart(services: Service[], declaringInstances?: boolean): Service[];
  /** Before the daemons' facts are learnt: the container must exist with its configuration. */
  prepareConverge(): void;
  /** Converge and start whatever is down (the container first). */
  startServer(): { changed: string[]; certificateCreated: boolean; containerStarted: boolean };
  /** tick: start what is down (a dead init took the whole container with it); on a router through procd. */
  startWhatIsDown(): void;
  /** `start` on a router: procd runs the daemons (host) or the container (lxc). */
  startThroughProcd(locked: Locked): Promise<unknown>;
  /** The init script's start (`mailctl procd-instances`): the instances procd should run. */
  procdInstances(locked: Locked): Promise<ProcdInstance[]>;
  /** The init script's stop (`mailctl procd-stop`), before procd ends the instances. */
  procdStop(): void;
  stop(): void;
  flushQueue(): void;
  /** Where ClamAV runs (status shows its state). */
  clamav: ClamavPlace;
  /** What `status` shows of the container (null on the host). */
  container(): ReturnType<typeof containerStatus> | null;
  /** Why mail is held now, or null. */
  held(services: ServiceState[]): string | null;
  install(rootfs: string | undefined): InstallReport;
  uninstall(purge: boolean): { container: string; removed: boolean; purged: boolean; dataPath: string };
}

interface InstallReport {
  postfixVersion: string;
  dovecotVersion: string;
  changed: string[];
  container: ReturnType<typeof containerStatus> | null;
  done: string[];
}

function runtimeOf(ctx: Context): Runtime {
  return ctx.settings.main.runtime === 'lxc' ? containerRuntime(ctx) : hostRuntime(ctx);
}

function hostRuntime(ctx: Context): Runtime {
  const { settings: s, layout: l } = ctx;
  return {
    view: (facts) => hostView(l, facts),
    states: () => serviceStates(l, s),
    reload: (services, declaringInstances = false) => reloadDaemons(l, services, s, declaringInstances),
    restart: (services, declaringInstances = false) => restartDaemons(l, s, services, declaringInstances),
    prepareConverge: () => {},
    startServer: () => {
      const report = applyFull(ctx);
      const certificateCreated = ensureCertificate(l, mailHost(s));
      // Wanted from now on, also if a daemon fails to start below: tick keeps trying.
      markWanted();
      keepChangesSoFar();
      startDaemons(l, s);
      return { changed: report.changed, certificateCreated, containerStarted: false };
    },
    // Under procd: an instance procd gave up on (a crash loop) starts again when the init
    // script declares it anew.
    startWhatIsDown: () => (procdSupervises() ? runInitScript('start') : startDaemons(l, s)),
    // Outside the write lock: the init script's `mailctl procd-instances` renders under it.
    startThroughProcd: async () => {
      runInitScript('start');
      await waitFor(() => serviceStates(l, s).every((d) => d.running), PROCD_START_MS);
    },
    // Rendered first (and the first certificate made), under the lock.
    procdInstances: (locked) =>
      locked((c) => {
        applyFull(c, true);
        ensureCertificate(c.layout, mailHost(c.settings));
        markWanted();
        return procdInstances(c.layout, c.settings, MAILCTL_NOW);
      }),
    procdStop: clearWanted,
    stop: () => stopDaemons(l),
    flushQueue: () => flushQueue(l),
    clamav: hostClamav,
    container: () => null,
    held: (services) => (services.find((d) => d.name === 'postfix')?.running ? mailHeldReason(l, s) : null),
    install: (rootfs) => {
      if (rootfs !== undefined) throw new MailError('invalid_argument', '--rootfs makes a container: it needs main.runtime lxc', 'rootfs');
      ctx.progress(10, 'checking Postfix and Dovecot');
      const report = applyFull(ctx);
      ctx.progress(70, 'certificate');
      ensureCertificate(l, mailHost(s));
      const facts = knownFacts(l, hostMachine);
      return { postfixVersion: facts.postfixVersion, dovecotVersion: facts.dovecotVersion, changed: report.changed, container: null, done: [] };
    },
    uninstall: () => {
      throw new MailError('invalid_argument', "uninstall removes the container of main.runtime lxc; on the host runtime remove the packages instead", 'main.runtime');
    },
  };
}

function containerRuntime(ctx: Context): Runtime {
  const { settings: s, layout: l } = ctx;
  // On a router procd runs the container (`lxc-start -F`, its instance) and restarts it when it
  // dies; the configuration and the daemons inside are ours, as without procd.
  const launch = () => startContainer(s, procdSupervises() ? () => (assertEnabled(s), runInitScript('start')) : undefined);
  const runtime: Runtime = {
    view: (facts) => lxcView(l, facts),
    states: () => containerServiceStates(s),
    reload: (services) => {
      const reloaded = reloadContainerDaemons(s, l, services);
      if (!containerRunning(s)) return reloaded;
      // As on the host: ClamAV as the settings want it, and the bans beside the container.
      const switched = reconcileContainerClamav(s, l).filter((d): d is 'clamd' | 'clamav-milter' => d !== 'freshclam' && !reloaded.includes(d));
      reconcileBans(l, s, procdSupervises());
      return [...reloaded, ...switched];
    },
    restart: (services) => (containerRunning(s) ? restartContainerDaemons(s, l, services).filter((d): d is Service => d !== 'freshclam') : []),
    prepareConverge: () => {
      assertContainerInstalled(s);
      configureContainer(s, l);
    },
    startServer: () => {
      runtime.prepareConverge();
      prepareDirectories(l);
      // The daemons' TLS listeners need a certificate the moment the container's init starts them.
      const certificateCreated = ensureCertificate(l, mailHost(s));
      markWanted();
      keepChangesSoFar();
      const containerStarted = launch();
      // A first start has no configuration yet: the init could not start the daemons, apply writes
      // it from the container's facts, then whatever is down starts.
      const report = applyFull(ctx);
      // The init started the daemons from the files of the container's last run: what apply
      // changed in them takes a restart (a reload leaves Postfix on its old listen addresses).
      if (containerStarted) restartContainerDaemons(s, l, report.reload.filter((d) => d === 'postfix' || d === 'dovecot'));
      startContainerDaemons(s, l);
      reconcileBans(l, s, procdSupervises());
      return { changed: report.changed, certificateCreated, containerStarted };
    },
    startWhatIsDown: () => (launch(), startContainerDaemons(s, l), reconcileBans(l, s, procdSupervises())),
    // The init script declares the container only (it renders nothing): the rest under the lock.
    startThroughProcd: (locked) => locked((c) => runtimeOf(c).startServer()),
    // Without the lock: `start` and `install` run the init script while they hold it. The
    // container renders nothing; start and tick converge it once it runs.
    procdInstances: async () => (markWanted(), procdInstances(l, s, MAILCTL_NOW)),
    procdStop: () => {
      clearWanted();
      // Cleanly, daemon by daemon, before procd's SIGTERM to lxc-start and its SIGKILL after.
      stopContainer(s);
    },
    // The bans stay in the router's firewall (as on the host); their watcher ends with the daemons.
    stop: () => (stopContainer(s), stopBanWatcher(l)),
    flushQueue: () => flushContainerQueue(s, l),
    clamav: containerClamav(s),
    container: () => containerStatus(s),
    held: (services) => (services.find((d) => d.name === 'postfix')?.running ? mailHeldReason(l, s, containerMilterProbe(s, l)) : null),
    install: (rootfs) => installContainer(ctx, runtime, rootfs),
    uninstall: (purge) => {
      clearWanted();
      const removed = destroyContainer(s);
      if (purge) removeTree(l.dataPath);
      return { container: s.main.container, removed, purged: purge, dataPath: l.dataPath };
    },
  };
  return runtime;
}

/**
 * Render and write every generated file; reload the running daemons whose files changed. A
 * stopped container renders nothing (its tools make the maps): `start` converges all first.
 */
export function apply(ctx: Context, accounts: Accounts = loadAccounts(ctx.layout), known?: DaemonFacts, declaringInstances = false): ConvergeReport & { reloaded: string[] } {
  assertCurrentFormat(ctx.layout);
  const machine = machineFor(ctx.settings);
  if (!machine.available()) return { changed: [], reload: [], restart: [], reloaded: [] };
  const facts = known ?? knownFacts(ctx.layout, machine);
  const runtime = runtimeOf(ctx);
  const report = writeGenerated(renderAll(ctx, runtime.view(facts), accounts, machine), facts.mapType, ctx.layout.postfixConfigDir, machine);
  stampVmailbox(ctx.layout, facts.mapType);
  const reloaded = runtime.reload(report.reload, declaringInstances);
  return { ...report, reloaded: [...reloaded, ...runtime.restart(report.restart, declaringInstances)] };
}

/** Reload running daemons (no restart): they re-read their configuration and certificate files. */
export function reload(ctx: Context, services: Service[]): Service[] {
  return runtimeOf(ctx).reload(services);
}

/**
 * Converge everything from the daemons' own facts. In a container that needs it running (the
 * facts and the maps come from its tools): `start` runs the container first.
 */
export function applyFull(ctx: Context, declaringInstances = false) {
  // Before anything touches the disk: preparing directories would re-own a legacy mail tree.
  assertCurrentFormat(ctx.layout);
  const machine = machineFor(ctx.settings);
  runtimeOf(ctx).prepareConverge();
  // A stopped container has no tools to ask: apply then renders nothing.
  const facts = machine.available() ? learnFacts(ctx.layout, machine) : undefined;
  if (facts) assertDovecotSupported(facts.dovecotVersion);
  prepareDirectories(ctx.layout);
  markFormatIfNew(ctx);
  ownUsersFile(ctx.layout);
  return apply(ctx, undefined, facts, declaringInstances);
}

function markFormatIfNew(ctx: Context): void {
  assertCurrentFormat(ctx.layout);
  markFormat(ctx.layout);
}

export async function start(ctx: Context) {
  // Inside another write (a restore): procd's start runs once that write is done.
  if (procdSupervises()) return (startInBackgroundThroughProcd(ctx.layout), { ...(await status(ctx)), changed: [] as string[], certificateCreated: false });
  const { changed, certificateCreated } = runtimeOf(ctx).startServer();
  return { ...(await status(ctx)), changed, certificateCreated };
}

export async function stop(ctx: Context) {
  if (procdSupervises()) return stopThroughProcd(ctx);
  clearWanted();
  runtimeOf(ctx).stop();
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
 * On a router: procd starts what the init script declares (host: the daemons, rendered by the
 * script's mailctl under the write lock; lxc: the container, then converged under the lock).
 */
export async function startThroughProcd(ctx: Context, locked: Locked) {
  assertEnabled(ctx.settings);
  await runtimeOf(ctx).startThroughProcd(locked);
  return { ...(await status(ctx)), changed: [] as string[], certificateCreated: false };
}

function assertEnabled(s: Context['settings']): void {
  if (!s.main.enabled) throw new MailError('conflict', 'mailserver.main.enabled is 0, so procd starts nothing: uci set mailserver.main.enabled=1; uci commit mailserver');
}

/** On a router: procd ends the instances after the script returned (SIGTERM, SIGKILL after term_timeout). */
export async function stopThroughProcd(ctx: Context) {
  runInitScript('stop');
  await waitFor(() => serverStates(ctx).every((s) => !s.running), PROCD_STOP_MS);
  return status(ctx);
}

/** The bundle running now (mailctl): the ban watcher and Rspamd's prestart run it too. */
const MAILCTL_NOW = [process.execPath, process.argv[1]!];

/**
 * What /etc/init.d/mailserver asks for (`mailctl procd-instances`): the server is wanted from
 * now on, and the instances procd should run, one a line.
 */
export async function declareInstances(ctx: Context, locked: Locked): Promise<string> {
  return instanceLines(await runtimeOf(ctx).procdInstances(locked));
}

/** The init script's stop (`mailctl procd-stop`): tick must not start what procd stops. */
export function instancesStopped(ctx: Context): void {
  runtimeOf(ctx).procdStop();
}

/** bans: when the caller needs the list too (the Overview), read once for both. */
export async function status(ctx: Context, bans = readBans(ctx.layout, ctx.settings)) {
  const runtime = runtimeOf(ctx);
  const services = runtime.states();
  const running = services.every((s) => s.running);
  const container = runtime.container();
  // A veth container has its own address: the ports are asked there.
  const portsAt = ctx.settings.lxc.network === 'veth' ? container?.address?.split('/')[0] : undefined;
  return {
    runtime: ctx.settings.main.runtime,
    /** The lxc runtime's container (null on the host runtime): the Overview shows it. */
    container,
    enabled: ctx.settings.main.enabled,
    running,
    services,
    /** Why mail is held (deferred, refused with 4xx) right now, or null. */
    held: runtime.held(services),
    ports: running ? await portStates(ctx.settings, portsAt ?? undefined) : [],
    bans: bans.summary,
    logDir: ctx.layout.logDir,
    virus: virusScanState(ctx.settings, ctx.layout, runtime.clamav),
    /** Settings that have no effect here yet, and why. */
    notices: unimplementedOptionNotices(ctx.settings),
    // The last restarts tick made, newest last, each with the sentence the Overview shows.
    restarts: recentRestarts(ctx.layout).slice(-RESTARTS_SHOWN).map((r) => ({ ...r, text: restartText(r) })),
  };
}

const RESTARTS_SHOWN = 5;

/** Start what should run and does not (tick); the restarts it made. */
export function heal(ctx: Context) {
  keepChangesSoFar();
  return healDaemons(ctx.layout, healable(ctx)).map((r) => ({ ...r, text: restartText(r) }));
}

/** The daemons' states, wherever they run. */
function serverStates(ctx: Context) {
  return runtimeOf(ctx).states();
}

function healable(ctx: Context): Healable {
  const runtime = runtimeOf(ctx);
  return { states: runtime.states, start: runtime.startWhatIsDown, flushQueue: runtime.flushQueue };
}

/**
 * Make the server ready. Host runtime: the daemons are packages; check them and prepare the rest.
 * lxc runtime: the container, in the phases the Overview shows (rootfs, packages, configure,
 * start); each repairs what is missing and leaves alone what is there, so a second run changes
 * nothing and a failed one is repaired by running it again.
 */
export function install(ctx: Context, rootfs?: string): InstallReport {
  return runtimeOf(ctx).install(rootfs);
}

export type InstallPhase = 'rootfs' | 'packages' | 'configure' | 'start';

function installContainer(ctx: Context, runtime: Runtime, tarball: string | undefined): InstallReport {
  const s = ctx.settings;
  const l = ctx.layout;
  const done: string[] = [];
  let changed: string[] = [];
  const phase = (name: InstallPhase, percent: number, work: () => void) => {
    ctx.progress(percent, name);
    try {
      work();
      // What a phase made stays, also when a later one fails: install again goes on from there.
      keepChangesSoFar();
    } catch (e) {
      // Nothing half-installed keeps running (a container of that name that is not ours is not ours to stop).
      if (ourContainer(s)) {
        try {
          clearWanted();
          stopContainer(s);
        } catch {
          // the phase's own error is the one to report
        }
      }
      const message = `install failed in phase ${name}: ${e instanceof Error ? e.message : String(e)}`;
      if (e instanceof NoSpaceError) throw new NoSpaceError(message);
      throw e instanceof MailError ? new MailError(e.code, message, e.field) : new MailError('daemon_error', message);
    }
  };
  phase('rootfs', 5, () => {
    assertOurContainer(s);
    const begun = !ourContainer(s);
    if (writeLxcConfig(s, l)) done.push(`container configuration written (${containerPaths(s).config})`);
    keepChangesSoFar();
    try {
      if (!rootfsPresent(containerPaths(s).rootfs)) done.push(`rootfs made from ${makeRootfs(s, tarball)}`);
    } catch (e) {
      // A container this install only began is not left registered without a rootfs (lxc-ls).
      if (begun) removeTree(containerPaths(s).dir);
      throw e;
    }
  });
  phase('packages', 30, () => {
    const added = installContainerPackages(s);
    if (added.length) done.push(`installed in the container: ${added.join(', ')}`);
  });
  phase('configure', 60, () => {
    if (configureContainer(s, l).length) done.push('container configuration and init written');
  });
  phase('start', 75, () => {
    const r = runtime.startServer();
    if (r.containerStarted) done.push(`container '${s.main.container}' started`);
    if (r.certificateCreated) done.push('self-signed certificate made');
    changed = r.changed;
  });
  ctx.progress(100, 'done');
  const facts = knownFacts(l, machineFor(s));
  return { postfixVersion: facts.postfixVersion, dovecotVersion: facts.dovecotVersion, changed, container: containerStatus(s), done };
}

/** Remove the container; the data stays unless `purge` (then data_path goes too). */
export function uninstall(ctx: Context, purge: boolean) {
  return runtimeOf(ctx).uninstall(purge);
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
  const machine = machineFor(ctx.settings);
  const r = machine.run(['sendmail', '-C', machine.path(ctx.layout.postfixConfigDir), '-f', from, '-i', '--', to], { input: message });
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
