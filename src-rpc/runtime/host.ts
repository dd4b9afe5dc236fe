// The host runtime: Postfix and Dovecot as ordinary processes using our generated configs
// (OpenWrt's own packages on a router; Debian's in dev and tests).
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readText, ensureDir } from '../sys/fs.ts';
import { run, runDetached, pidFileProcess, forgetForeignPidFile, endOrphanedWorkers, type PidFileProcess } from '../sys/spawn.ts';
import { systemUserId } from '../sys/accounts.ts';
import { MailError } from '../core/errors.ts';
import { MAIL_UID, MAIL_GID, SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import type { Service } from './converge.ts';
import { reconcileClamav, stopClamav, restartClamav, endClamavDaemon, clamavAsWanted } from './clamav.ts';
import { procdSupervises, reloadThroughProcd } from './procd.ts';
import { ensureMailRoot } from '../store/mailbox-files.ts';
import { reconcileBans, stopBanWatcher } from './ban-watcher.ts';
import { milterProcess, milterPid, wantedMilter, startMilter, stopMilter, reloadMilter, stopStaleInstances, type Milter } from './signing.ts';
import type { RuntimeView } from '../render/view.ts';
import { bareAddress, listenAddresses } from '../render/text.ts';
import type { DaemonFacts } from './facts.ts';
import type { Settings, PortName } from '../config/settings.ts';

export interface ServiceState {
  name: Service;
  running: boolean;
  pid: number | null;
  /** Why a daemon that left a pid file does not count as running. */
  problem?: string;
}

export interface PortState {
  name: PortName;
  port: number;
  open: boolean;
}

export function hostView(l: Layout, facts: Pick<DaemonFacts, 'mapType' | 'postfixVersion'>): RuntimeView {
  return {
    configDir: l.configDir,
    mailDir: l.mailDir,
    sslDir: l.sslDir,
    postfixSecretsDir: l.postfixSecretsDir,
    postfixConfigDir: l.postfixConfigDir,
    postfixQueueDir: l.postfixQueueDir,
    postfixDataDir: l.postfixDataDir,
    dovecotConfigFile: l.dovecotConfigFile,
    dovecotBaseDir: l.dovecotBaseDir,
    dovecotStateDir: l.dovecotStateDir,
    logDir: l.logDir,
    mailUid: MAIL_UID,
    mailGid: MAIL_GID,
    mapType: facts.mapType,
    postfixVersion: facts.postfixVersion,
  };
}

/** Directories the daemons need, with the owners they insist on. */
export function prepareDirectories(l: Layout): void {
  const postfixUid = systemUserId('postfix', l.daemonsRoot) ?? 0;
  ensureDir(l.dataPath, { mode: 0o755 });
  ensureDir(l.configDir, { mode: 0o755, uid: 0, gid: 0 });
  ensureMailRoot(l);
  ensureDir(l.sslDir, { mode: 0o755, uid: 0, gid: 0 });
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  ensureDir(l.stateDir, { mode: 0o755, uid: 0, gid: 0 });
  ensureDir(l.postfixQueueDir, { mode: 0o755, uid: 0, gid: 0 });
  ensureDir(l.postfixDataDir, { mode: 0o700, uid: postfixUid });
  ensureDir(l.dovecotStateDir, { mode: 0o750, uid: 0, gid: 0 });
  ensureDir(l.dovecotBaseDir, { mode: 0o755, uid: 0, gid: 0 });
  ensureDir(l.logDir, { mode: 0o755, uid: 0, gid: 0 });
}

const postfixPidFile = (l: Layout) => join(l.postfixQueueDir, 'pid', 'master.pid');
const dovecotPidFile = (l: Layout) => join(l.dovecotBaseDir, 'master.pid');
/** The program behind each pid file: Postfix's is its master's. */
const POSTFIX_EXECUTABLE = 'master';
const DOVECOT_EXECUTABLE = 'dovecot';

function stateOf(name: Service, p: PidFileProcess): ServiceState {
  const state: ServiceState = { name, running: p.pid !== null, pid: p.pid };
  if (p.foreign) state.problem = `its pid file names pid ${p.foreign.pid}, which is ${p.foreign.executable}`;
  return state;
}

const MILTERS: Milter[] = ['rspamd', 'opendkim'];

/** Dovecot and Postfix, then the milter the settings want (and any other milter still running). */
export function serviceStates(l: Layout, s?: Settings): ServiceState[] {
  const states: ServiceState[] = [
    stateOf('dovecot', pidFileProcess(dovecotPidFile(l), DOVECOT_EXECUTABLE)),
    stateOf('postfix', pidFileProcess(postfixPidFile(l), POSTFIX_EXECUTABLE)),
  ];
  for (const m of MILTERS) {
    const wanted = s !== undefined && wantedMilter(s) === m;
    const p = milterProcess(l, m, wanted ? s : undefined);
    if (p.pid !== null || wanted) states.push(stateOf(m, p));
  }
  return states;
}

/** The milter the settings want runs, no other does (when the mail server runs at all). */
function reconcileMilters(l: Layout, s: Settings): Service[] {
  const changed: Service[] = [];
  const wanted = wantedMilter(s);
  for (const m of MILTERS) {
    if (m !== wanted && milterPid(l, m) !== null) (stopMilter(l, m), changed.push(m));
  }
  if (wanted === 'opendkim') stopStaleInstances(l, s);
  if (wanted && milterPid(l, wanted, s) === null) (startMilter(l, wanted, s), changed.push(wanted));
  return changed;
}

function checked(argv: string[], what: string): void {
  const r = run(argv);
  if (r.code !== 0) throw new MailError('daemon_error', `${what} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ') || `exit ${r.code}`}`);
}

/** Dovecot's command line: forking for `mailctl start`, in the foreground (-F) for procd. */
export function dovecotCommand(l: Layout, foreground: boolean): string[] {
  return ['dovecot', ...(foreground ? ['-F'] : []), '-c', l.dovecotConfigFile];
}

/** Dovecot first: Postfix hands mail to its LMTP socket and asks its auth socket; then the milter. */
export function startDaemons(l: Layout, s?: Settings): void {
  const [dovecot, postfix] = serviceStates(l);
  if (!dovecot!.running) {
    forgetForeignPidFile(dovecotPidFile(l), DOVECOT_EXECUTABLE);
    // A master killed with SIGKILL leaves login processes holding its ports for a while.
    endOrphanedWorkers(dovecotPidFile(l), 'dovecot');
    const r = runDetached(dovecotCommand(l, false), join(l.logDir, 'dovecot-start.log'));
    if (r.code !== 0) throw new MailError('daemon_error', `dovecot did not start: see ${join(l.logDir, 'dovecot.log')} (${readText(join(l.logDir, 'dovecot-start.log'))?.trim().split('\n').pop() ?? ''})`);
  }
  // clamd before the milters that ask it.
  if (s) reconcileClamav(s, l);
  if (s) reconcileMilters(l, s);
  if (!postfix!.running) {
    if (s) assertListenAddressesLocal(s);
    forgetForeignPidFile(postfixPidFile(l), POSTFIX_EXECUTABLE);
    const r = runDetached(['postfix', '-c', l.postfixConfigDir, 'start'], join(l.logDir, 'postfix-start.log'));
    if (r.code !== 0) throw new MailError('daemon_error', `postfix did not start: ${readText(join(l.logDir, 'postfix-start.log'))?.trim().split('\n').slice(-2).join(' / ') ?? ''}`);
  }
  if (s) reconcileBans(l, s);
}

/** Deliver deferred mail now (after a restart) rather than at Postfix's next retry minutes later. */
export function flushQueue(l: Layout): void {
  run(['postqueue', '-c', l.postfixConfigDir, '-f']);
}

export function stopDaemons(l: Layout): void {
  const [dovecot, postfix] = serviceStates(l);
  if (postfix!.running) checked(['postfix', '-c', l.postfixConfigDir, 'stop'], 'postfix stop');
  for (const m of MILTERS) stopMilter(l, m);
  stopClamav();
  stopBanWatcher(l);
  if (dovecot!.running) checked(['dovecot', '-c', l.dovecotConfigFile, 'stop'], 'dovecot stop');
}

/**
 * Reload the running daemons whose files changed. Without procd, daemons the settings now need
 * (a milter, ClamAV, the ban watcher) are started and unneeded ones stopped here; under procd
 * that is procd's job: its instances change through the init script's reload (not while the init
 * script itself is declaring them), and a daemon that must restart to read its files is ended
 * for procd to start again.
 */
export function reloadDaemons(l: Layout, services: Service[], settings?: Settings, declaringInstances = false): Service[] {
  const states = serviceStates(l);
  const reloaded: Service[] = [];
  const procd = procdSupervises();
  const switched: Service[] = [];
  if (settings && states[1]!.running) {
    if (!procd) switched.push(...scanners(reconcileClamav(settings, l)), ...reconcileMilters(l, settings));
    else if (!declaringInstances && !instancesAsWanted(l, settings)) reloadThroughProcd(l);
  }
  reloaded.push(...switched);
  if (settings && states[0]!.running) reconcileBans(l, settings, procd);
  for (const s of services) {
    if (s === 'clamd' || s === 'clamav-milter') {
      if (procd ? endClamavDaemon(s) : settings && !switched.includes(s) && restartClamav(settings, l, s)) reloaded.push(s);
      continue;
    }
    if (!states.find((x) => x.name === s)?.running || switched.includes(s)) continue;
    if (s === 'rspamd' || s === 'opendkim') {
      if (reloadMilter(l, s)) reloaded.push(s);
      continue;
    }
    if (s === 'postfix') checked(['postfix', '-c', l.postfixConfigDir, 'reload'], 'postfix reload');
    else checked(['dovecot', '-c', l.dovecotConfigFile, 'reload'], 'dovecot reload');
    reloaded.push(s);
  }
  return reloaded;
}

/**
 * Stop and start Postfix where a reload is not enough (its listen addresses). Under procd, the
 * init script's reload declares a postfix instance with the new addresses, which procd restarts.
 */
export function restartDaemons(l: Layout, s: Settings, services: Service[], declaringInstances = false): Service[] {
  if (!services.includes('postfix') || !serviceStates(l)[1]!.running) return [];
  assertListenAddressesLocal(s);
  if (procdSupervises()) {
    if (!declaringInstances) reloadThroughProcd(l);
    return ['postfix'];
  }
  checked(['postfix', '-c', l.postfixConfigDir, 'stop'], 'postfix stop');
  checked(['postfix', '-c', l.postfixConfigDir, 'start'], 'postfix start');
  return ['postfix'];
}

/**
 * Postfix will not start on an address no interface of this machine has, and without a terminal
 * says so only in its log: refused here, by name, before anything is stopped.
 */
function assertListenAddressesLocal(s: Settings): void {
  const local = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
  const missing = listenAddresses(s).map(bareAddress).filter((a) => a !== '0.0.0.0' && a !== '::' && !local.has(a));
  if (missing.length) {
    throw new MailError('invalid_argument', `main.listen: ${missing.join(', ')} is not an address of an interface here, and Postfix listens only on those: add it to an interface or change main.listen`, 'main.listen');
  }
}

/** The milter and ClamAV daemons that run are those the settings need (procd declared them). */
function instancesAsWanted(l: Layout, s: Settings): boolean {
  const wanted = wantedMilter(s);
  const milters = MILTERS.every((m) => (milterPid(l, m, m === wanted ? s : undefined) !== null) === (m === wanted));
  return milters && clamavAsWanted(s, l);
}

/** The ClamAV daemons that are services of their own (freshclam only feeds clamd). */
const scanners = (ds: string[]): Service[] => ds.filter((d): d is 'clamd' | 'clamav-milter' => d === 'clamd' || d === 'clamav-milter');

/** host: where the daemons listen (a veth container's own address). */
export async function portStates(s: Settings, host = s.main.listen[0] ?? '127.0.0.1'): Promise<PortState[]> {
  const entries = (Object.entries(s.ports) as [PortName, number][]).filter(([, port]) => port !== 0);
  return Promise.all(entries.map(async ([name, port]) => ({ name, port, open: await canConnect(host, port) })));
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: 500 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
