// The milter daemons of the host runtime: Rspamd (features.spam_filter=1: scoring, SPF/DMARC
// checks, DKIM signing) or OpenDKIM (spam_filter=0, dkim=1: signing only). Their files, their
// users, and start / stop / reload / state, beside Postfix and Dovecot in host.ts.
import { join } from 'node:path';
import { readText, ensureDir, writeAtomic, statOrNull, exists } from '../sys/fs.ts';
import { runDetached, spawnBackground, processAlive, signal, handlesSignal, sleepSync, pidFileProcess, forgetForeignPidFile, endOrphanedWorkers, processExecutable, processIds, processOpenFiles, parentPid, type PidFileProcess } from '../sys/spawn.ts';
import { systemUserId, systemGroupId } from '../sys/accounts.ts';
import { systemNameservers } from '../sys/dns.ts';
import { hostPath } from '../sys/paths.ts';
import { MailError } from '../core/errors.ts';
import { renderRspamd, type SigningKey } from '../render/rspamd.ts';
import { renderOpendkim, opendkimName, opendkimSocket, type OpendkimInstance } from '../render/opendkim.ts';
import { ensureDkimKeys, handKeysTo, privateKeyPath, rspamdKeyPath, dkimSecretsDir, type DkimKey } from '../dkim/keys.ts';
import { splitServer } from '../dns/validate.ts';
import type { Layout } from '../core/layout.ts';
import type { Settings } from '../config/settings.ts';

export type Milter = 'rspamd' | 'opendkim';

/** The package's own Rspamd configuration (ours is layered over it as LOCAL_CONFDIR). */
export const RSPAMD_CONFDIR = '/etc/rspamd';

export interface SigningPaths {
  rspamdConfigDir: string;
  rspamdDbDir: string;
  /** pid file, controller and normal worker sockets: Rspamd and root only. */
  rspamdRunDir: string;
  /** The milter socket: Rspamd and the postfix group only. */
  rspamdMilterDir: string;
  rspamdLog: string;
  opendkimConfigDir: string;
  /** pid files and milter sockets: OpenDKIM and the postfix group only. */
  opendkimRunDir: string;
}

/** Ask the Rspamd controller here (as root): `curl --unix-socket <this> http://localhost/ping`. */
export const rspamdControllerSocket = (l: Layout) => join(signingPaths(l).rspamdRunDir, 'controller.sock');
export const rspamdMilterSocket = (l: Layout) => join(signingPaths(l).rspamdMilterDir, 'milter.sock');

/** `alias/login` lines the signers check an authenticated From: against. */
export const senderOwnersFile = (l: Layout) => join(l.configDir, 'sender-owners');

/** Every OpenDKIM instance there may be (one per DKIM algorithm). */
export const OPENDKIM_INSTANCES: OpendkimInstance[] = ['rsa', 'ed25519'];

/** The OpenDKIM processes the settings need: one per DKIM algorithm. */
export function opendkimInstances(s: Settings): OpendkimInstance[] {
  return OPENDKIM_INSTANCES.filter((i) => s.dns.dkimAlgorithms.includes(i));
}

export function signingPaths(l: Layout): SigningPaths {
  const opendkimRunDir = hostPath('/var/run/mailserver/opendkim');
  return {
    rspamdConfigDir: join(l.configDir, 'rspamd'),
    rspamdDbDir: join(l.stateDir, 'rspamd'),
    rspamdRunDir: hostPath('/var/run/mailserver/rspamd'),
    rspamdMilterDir: hostPath('/var/run/mailserver/rspamd-milter'),
    rspamdLog: join(l.logDir, 'rspamd.log'),
    opendkimConfigDir: join(l.configDir, 'opendkim'),
    opendkimRunDir,
  };
}

/** Which milter the settings want, if any. */
export function wantedMilter(s: Settings): Milter | null {
  if (s.features.spamFilter) return 'rspamd';
  if (s.features.dkim) return 'opendkim';
  return null;
}

/** A host path as the daemons see it (the identity on the host runtime). */
type DaemonPath = (hostPath: string) => string;
const asIs: DaemonPath = (p) => p;

/** Postfix's smtpd_milters value for the settings. */
export function milterAddress(s: Settings, l: Layout, path: DaemonPath = asIs): string | undefined {
  const m = wantedMilter(s);
  if (m === 'rspamd') return `unix:${path(rspamdMilterSocket(l))}`;
  if (m === 'opendkim') return opendkimInstances(s).map((i) => `unix:${path(opendkimSocket(signingPaths(l).opendkimRunDir, i))}`).join(', ');
  return undefined;
}

/** Postfix's group: it alone (besides the milter and root) may reach the milter sockets. */
function postfixGid(): number {
  const gid = systemGroupId('postfix');
  if (gid === null) throw new MailError('unsupported', 'Postfix is not installed (no postfix group)');
  return gid;
}

/** Debian's user is _rspamd, OpenWrt's and upstream's rspamd. `root`: the daemons' root filesystem. */
export function rspamdUser(root = '/'): { name: string; uid: number; gid: number } | null {
  for (const name of ['_rspamd', 'rspamd']) {
    const uid = systemUserId(name, root);
    if (uid !== null) return { name, uid, gid: systemGroupId(name, root) ?? uid };
  }
  return null;
}

function opendkimUser(root: string): { name: string; uid: number; gid: number } | null {
  const uid = systemUserId('opendkim', root);
  return uid === null ? null : { name: 'opendkim', uid, gid: systemGroupId('opendkim', root) ?? uid };
}

/** The milter's system user on the machine whose root filesystem is `root` (a container's numbers are its own). */
export function signerOf(m: Milter | null, required = true, root = '/') {
  if (m === 'rspamd') {
    const u = rspamdUser(root);
    if (!u && required) throw new MailError('unsupported', 'features.spam_filter is on but Rspamd is not installed (no _rspamd/rspamd user): install rspamd or set features.spam_filter=0');
    return u;
  }
  if (m === 'opendkim') {
    const u = opendkimUser(root);
    if (!u && required) throw new MailError('unsupported', 'features.dkim is on but OpenDKIM is not installed (no opendkim user): install opendkim or set features.dkim=0');
    return u;
  }
  return null;
}

export interface SigningFile {
  path: string;
  text: string;
  reloads: Milter;
}

/** Where the milter runs: its root filesystem (users, groups) and how it sees the host's paths. */
export interface DaemonMachine {
  root: string;
  path: DaemonPath;
}

/**
 * Keys exist and belong to the signer; the milter's configuration files to write, with paths as
 * the daemons see them. Called by apply, inside the write lock.
 */
export function prepareSigning(s: Settings, l: Layout, at: DaemonMachine = { root: '/', path: asIs }): { files: SigningFile[]; keys: DkimKey[] } {
  const milter = wantedMilter(s);
  const path = at.path;
  // Rendering works without the daemon installed; starting it says what is missing.
  const signer = signerOf(milter, false, at.root);
  const { keys } = ensureDkimKeys(s, l);
  handKeysTo(l, keys, signer && s.features.dkim ? signer : null, milter === 'rspamd');
  const active = s.features.dkim ? keys.filter((k) => k.state === 'active') : [];
  const p = signingPaths(l);
  const files: SigningFile[] = [];
  if (milter === 'rspamd') {
    const signing: SigningKey[] = active.map((k) => ({ ...pick(k), path: path(k.algorithm === 'ed25519' ? rspamdKeyPath(l, k) : privateKeyPath(l, k)) }));
    const nameservers = (s.dns.resolver ? [splitServer(s.dns.resolver)] : systemNameservers()).map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`));
    const view = {
      logFile: path(p.rspamdLog),
      nameservers,
      keys: signing,
      milterSocket: path(rspamdMilterSocket(l)),
      milterGroup: 'postfix',
      controllerSocket: path(rspamdControllerSocket(l)),
      normalSocket: path(join(p.rspamdRunDir, 'normal.sock')),
      user: signer?.name ?? '_rspamd',
      senderOwnersFile: path(senderOwnersFile(l)),
    };
    for (const [name, text] of Object.entries(renderRspamd(s, view))) {
      files.push({ path: join(p.rspamdConfigDir, name), text, reloads: 'rspamd' });
    }
  } else if (milter === 'opendkim') {
    const signing: SigningKey[] = active.map((k) => ({ ...pick(k), path: path(privateKeyPath(l, k)) }));
    for (const [name, text] of Object.entries(renderOpendkim({ configDir: path(p.opendkimConfigDir), runDir: path(p.opendkimRunDir), senderOwnersFile: path(senderOwnersFile(l)), user: signer?.name ?? 'opendkim', instances: opendkimInstances(s), keys: signing }))) {
      files.push({ path: join(p.opendkimConfigDir, name), text, reloads: 'opendkim' });
    }
  }
  return { files, keys };
}

const pick = (k: DkimKey) => ({ domain: k.domain, selector: k.selector, algorithm: k.algorithm });

// ---- processes ----

export const rspamdPidFile = (l: Layout) => join(signingPaths(l).rspamdRunDir, 'rspamd.pid');
export const opendkimPidFile = (l: Layout, i: OpendkimInstance) => join(signingPaths(l).opendkimRunDir, opendkimName(i, 'opendkim', 'pid'));
const opendkimProcess = (l: Layout, i: OpendkimInstance) => pidFileProcess(opendkimPidFile(l, i), 'opendkim');
const opendkimPid = (l: Layout, i: OpendkimInstance) => opendkimProcess(l, i).pid;

/**
 * Rspamd's master; for OpenDKIM with settings, the first instance when every instance the
 * settings need runs (else the first that does not), without settings any instance still running.
 */
export function milterProcess(l: Layout, m: Milter, s?: Settings): PidFileProcess {
  if (m === 'rspamd') return pidFileProcess(rspamdPidFile(l), 'rspamd');
  if (s) {
    const all = opendkimInstances(s).map((i) => opendkimProcess(l, i));
    return all.find((p) => p.pid === null) ?? all[0] ?? { pid: null, foreign: null };
  }
  return { pid: OPENDKIM_INSTANCES.map((i) => opendkimPid(l, i)).find((x) => x !== null) ?? null, foreign: null };
}

export function milterPid(l: Layout, m: Milter, s?: Settings): number | null {
  return milterProcess(l, m, s).pid;
}

const rspamdStartLog = (l: Layout) => join(l.logDir, 'rspamd-start.log');

/**
 * An Rspamd of ours that has forked but not yet written its pid file: a first start compiles the
 * public-suffix list for 15 s on an idle machine and minutes on a loaded one. Mail meanwhile
 * waits (milter_default_action = tempfail); starting a second one would only fight for the sockets.
 */
function rspamdLoading(l: Layout): boolean {
  // Ours writes to our start log until its configuration is loaded, then to its own log (its
  // process title no longer shows the command line).
  const logs = [rspamdStartLog(l), signingPaths(l).rspamdLog];
  return processIds().some((pid) => processExecutable(pid) === 'rspamd' && processOpenFiles(pid).some((f) => logs.includes(f)));
}

/** The milter's directories and log, owned as it needs them (before any start, procd's too). */
export function prepareMilterRun(l: Layout, m: Milter): void {
  const p = signingPaths(l);
  const user = signerOf(m)!;
  // The parent of the socket directories: Postfix must traverse it whatever the umask was.
  ensureDir(join(p.rspamdRunDir, '..'), { mode: 0o755 });
  if (m === 'rspamd') {
    prepareRspamdData(l, user);
    ensureDir(p.rspamdRunDir, { mode: 0o700, uid: user.uid, gid: user.gid });
    ensureDir(p.rspamdMilterDir, { mode: 0o750, uid: user.uid, gid: postfixGid() });
  } else {
    const unsafe = writableAncestor(dkimSecretsDir(l));
    if (unsafe) throw new MailError('unsupported', `OpenDKIM refuses keys below a directory others can write to (${unsafe}): put data_path somewhere safe`);
    ensureDir(p.opendkimRunDir, { mode: 0o750, uid: user.uid, gid: postfixGid() });
  }
}

export interface MilterCommand {
  /** rspamd, or opendkim-rsa / opendkim-ed25519. */
  name: string;
  argv: string[];
}

/**
 * The command lines of the milter processes the settings need: daemonizing for `mailctl start`,
 * in the foreground (Rspamd -f, OpenDKIM -f) for procd.
 */
export function milterCommands(l: Layout, m: Milter, s: Settings, foreground: boolean): MilterCommand[] {
  const p = signingPaths(l);
  if (m === 'rspamd') {
    return [{ name: 'rspamd', argv: ['rspamd', ...(foreground ? ['-f'] : []), ...rspamdArguments(l, signerOf(m)!.name)] }];
  }
  return opendkimInstances(s).map((i) => ({
    name: `opendkim-${i}`,
    argv: ['opendkim', ...(foreground ? ['-f'] : []), '-x', join(p.opendkimConfigDir, opendkimName(i, 'opendkim', 'conf'))],
  }));
}

/**
 * Before procd starts Rspamd again: end the workers a main killed with SIGKILL left behind (they
 * keep its sockets and would outlive every stop). In the foreground Rspamd does not call setsid(),
 * so they are found by the logs they hold and by their parent, which is no longer Rspamd.
 */
export function endOrphanedRspamdWorkers(l: Layout): void {
  if (milterPid(l, 'rspamd') !== null) return;
  const logs = [rspamdStartLog(l), signingPaths(l).rspamdLog];
  const orphans = processIds().filter((pid) => processExecutable(pid) === 'rspamd' && processExecutable(parentPid(pid)) !== 'rspamd' && processOpenFiles(pid).some((f) => logs.includes(f)));
  for (const pid of orphans) signal(pid, 'SIGKILL');
  for (let i = 0; i < 50 && orphans.some((pid) => processExecutable(pid) !== null); i++) sleepSync(100);
}

export function startMilter(l: Layout, m: Milter, s: Settings): void {
  if (milterPid(l, m, s) !== null) return;
  if (m === 'rspamd') {
    forgetForeignPidFile(rspamdPidFile(l), 'rspamd');
    // Workers of a master killed with SIGKILL keep its milter socket and its log open until they
    // are ended; only after that does an rspamd holding our logs mean one of ours is loading.
    endOrphanedWorkers(rspamdPidFile(l), 'rspamd');
    if (rspamdLoading(l)) return;
  }
  const p = signingPaths(l);
  prepareMilterRun(l, m);
  if (m === 'rspamd') {
    spawnBackground(milterCommands(l, m, s, false)[0]!.argv, rspamdStartLog(l));
  } else {
    const commands = milterCommands(l, m, s, false);
    opendkimInstances(s).forEach((i, n) => {
      if (opendkimPid(l, i) !== null) return;
      forgetForeignPidFile(opendkimPidFile(l, i), 'opendkim');
      const r = runDetached(commands[n]!.argv, join(l.logDir, 'opendkim-start.log'));
      if (r.code !== 0) throw new MailError('daemon_error', `opendkim (${i}) did not start: ${lastLines(join(l.logDir, 'opendkim-start.log'))}`);
    });
  }
  // Both fork; the pid file shows up once the daemon is past its configuration.
  for (let i = 0; i < 100 && milterPid(l, m, s) === null; i++) sleepSync(100);
  if (milterPid(l, m, s) === null && !(m === 'rspamd' && rspamdLoading(l))) {
    const log = m === 'rspamd' ? p.rspamdLog : join(l.logDir, 'opendkim-start.log');
    throw new MailError('daemon_error', `${m} did not stay up: ${lastLines(log)}`);
  }
}

/** Rspamd's options: the package's configuration with ours layered over it, our directories. */
export function rspamdArguments(l: Layout, user: string, path: DaemonPath = asIs): string[] {
  const p = signingPaths(l);
  return [
    '-c', join(RSPAMD_CONFDIR, 'rspamd.conf'), '-u', user, '-g', user,
    '--var', `LOCAL_CONFDIR=${path(p.rspamdConfigDir)}`, '--var', `DBDIR=${path(p.rspamdDbDir)}`,
    '--var', `RUNDIR=${path(p.rspamdRunDir)}`, '--var', `LOGDIR=${path(join(p.rspamdLog, '..'))}`,
  ];
}

/** Rspamd's database directory and log under data_path, its own (whichever machine it runs on). */
export function prepareRspamdData(l: Layout, user: { uid: number; gid: number }): void {
  const p = signingPaths(l);
  ensureDir(p.rspamdDbDir, { mode: 0o750, uid: user.uid, gid: user.gid });
  ensureDir(join(p.rspamdLog, '..'), { mode: 0o755 });
  if (!statOrNull(p.rspamdLog)) writeAtomic(p.rspamdLog, '', { mode: 0o640, uid: user.uid, gid: user.gid });
}

/** OpenDKIM instances of an algorithm the settings no longer sign with. */
export function stopStaleInstances(l: Layout, s: Settings): void {
  for (const i of OPENDKIM_INSTANCES) {
    const pid = opendkimInstances(s).includes(i) ? null : opendkimPid(l, i);
    if (pid === null) continue;
    signal(pid, 'SIGTERM');
    for (let n = 0; n < 100 && processAlive(pid); n++) sleepSync(100);
  }
}

export function stopMilter(l: Layout, m: Milter): void {
  const pids = m === 'rspamd' ? [milterPid(l, m)] : OPENDKIM_INSTANCES.map((i) => opendkimPid(l, i));
  for (const pid of pids) {
    if (pid === null) continue;
    signal(pid, 'SIGTERM');
    for (let i = 0; i < 100 && processAlive(pid); i++) sleepSync(100);
    if (processAlive(pid)) signal(pid, 'SIGKILL');
    for (let i = 0; i < 50 && processExecutable(pid) !== null; i++) sleepSync(100);
  }
  // A killed Rspamd main leaves its workers running, with its sockets and logs: until the next
  // start ended them, a stopped server would still hold them (and their memory).
  if (m === 'rspamd') endOrphanedWorkers(rspamdPidFile(l), 'rspamd');
}

/**
 * Rspamd re-reads its configuration on SIGHUP, OpenDKIM on SIGUSR1: neither is restarted, so
 * procd, which supervises them on a router, never counts a configuration change as a crash
 * (five in a row and it gives the instance up).
 */
export function reloadMilter(l: Layout, m: Milter): boolean {
  const pid = milterPid(l, m);
  if (pid === null) return false;
  if (m === 'rspamd') {
    hangUpRspamd(pid);
    return true;
  }
  for (const i of OPENDKIM_INSTANCES) {
    const instance = opendkimPid(l, i);
    if (instance === null) continue;
    // opendkim(8): on SIGUSR1 it re-reads its configuration file, and with it the key and
    // signing tables, before its next message. One that is still starting would die of it:
    // it gets a moment to install its handler (were it to die anyway, it restarts with the new files).
    for (let n = 0; n < 100 && !handlesSignal(instance, 'SIGUSR1'); n++) sleepSync(100);
    signal(instance, 'SIGUSR1');
  }
  return true;
}

/**
 * Rspamd answers SIGHUP by starting workers with the new configuration, then ending the old ones;
 * until then mail still meets the old configuration (the old DKIM selectors). Returns once the old
 * workers are gone. `pid`: its main process as this machine numbers it (also one in a container).
 */
export function hangUpRspamd(pid: number): void {
  const old = childPids(pid);
  signal(pid, 'SIGHUP');
  for (let i = 0; i < 300 && childPids(pid).some((c) => old.includes(c)); i++) sleepSync(100);
}

/** The first directory above `path` that group or others may write to (OpenDKIM's RequireSafeKeys). */
function writableAncestor(path: string): string | null {
  for (let dir = join(path, '..'); ; dir = join(dir, '..')) {
    const st = statOrNull(dir);
    if (st && (st.mode & 0o022) !== 0) return dir;
    if (dir === '/') return null;
  }
}

/** Worker processes of a daemon (Linux /proc). */
function childPids(pid: number): number[] {
  return (readText(`/proc/${pid}/task/${pid}/children`) ?? '').trim().split(/\s+/).filter((x) => x !== '').map(Number);
}

function lastLines(file: string): string {
  return (readText(file) ?? '').trim().split('\n').slice(-3).join(' / ');
}


/** How the wanted milter looks where it runs (the host's processes, or a container's). */
export interface MilterProbe {
  /** The root filesystem its users are in. */
  root: string;
  /** Its main process runs (for OpenDKIM: every instance the settings need). */
  running(): boolean;
  /** Rspamd's milter socket is there: its rules are loaded. */
  listening(): boolean;
  /** An Rspamd of ours is loading that `running` does not count yet. */
  loading(): boolean;
}

export function hostMilterProbe(l: Layout, s: Settings): MilterProbe {
  const m = wantedMilter(s);
  return {
    root: '/',
    running: () => m !== null && milterPid(l, m, s) !== null,
    listening: () => exists(rspamdMilterSocket(l)),
    loading: () => rspamdLoading(l),
  };
}

/**
 * Why Postfix holds mail now, or null: the milter the settings need is missing or not running,
 * and Postfix's milter_default_action = tempfail answers every message with a 4xx (senders
 * retry; nothing is lost, nothing arrives).
 */
export function mailHeldReason(l: Layout, s: Settings, probe: MilterProbe = hostMilterProbe(l, s)): string | null {
  const m = wantedMilter(s);
  if (!m) return null;
  const name = m === 'rspamd' ? 'Rspamd' : 'OpenDKIM';
  const feature = m === 'rspamd' ? 'features.spam_filter' : 'features.dkim';
  if (!signerOf(m, false, probe.root)) return `${name} is not installed (${feature}=1): install ${m}, or set ${feature}=0`;
  const loading = 'Rspamd is loading its rules (the first start takes minutes on a busy router)';
  // Its milter socket shows up once the rules are loaded.
  if (probe.running()) return m === 'rspamd' && !probe.listening() ? loading : null;
  if (m === 'rspamd' && probe.loading()) return loading;
  const log = m === 'rspamd' ? signingPaths(l).rspamdLog : join(l.logDir, 'opendkim-start.log');
  const last = lastLines(log).split(' / ').pop();
  return `${name} is not running${last ? ` (last log line: ${last})` : ''}`;
}
