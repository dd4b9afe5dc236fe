// ClamAV (features.virus_scan=1): our own clamd, freshclam (daemon mode: its own schedule, clamd
// notified after each download) and, with Rspamd off, clamav-milter. Their files and the state
// the Overview shows (signature age, memory) for either runtime (a ClamavPlace: where they run);
// start / stop / restart on the host runtime (the container's init starts them in a container).
import { join } from 'node:path';
import { readText, ensureDir, writeAtomic, statOrNull, listDir, exists, removeFile } from '../sys/fs.ts';
import { spawnBackground, processAlive, signal, sleepSync } from '../sys/spawn.ts';
import { processRunning } from '../sys/proc.ts';
import { systemUserId, systemGroupId } from '../sys/accounts.ts';
import { hostPath } from '../sys/paths.ts';
import { MailError } from '../core/errors.ts';
import {
  renderClamav, renderRspamdAntivirus, clamavMilterAddress, clamdSocket, clamdPidFile, milterPidFile, freshclamPidFile,
  CLAMAV_FULL_SET_MEMORY, type ClamavView,
} from '../render/clamav.ts';
import { rspamdUser, signingPaths, wantedMilter } from './signing.ts';
import type { Layout } from '../core/layout.ts';
import type { Settings } from '../config/settings.ts';
import type { Machine } from './machine.ts';

/** Where ClamAV runs: its users' root filesystem, host paths as it sees them, its daemons' pids (host pids). */
export interface ClamavPlace extends Pick<Machine, 'kind' | 'root' | 'path'> {
  pid(d: ClamavDaemon): number | null;
}

export type ClamavDaemon = 'clamd' | 'clamav-milter' | 'freshclam';

/** What to install when ClamAV is missing (OpenWrt's package names, then Debian's). */
export const CLAMAV_PACKAGES_HINT =
  'install ClamAV (OpenWrt: `opkg install clamav freshclam`; Debian: `apt-get install clamav-daemon clamav-freshclam clamav-milter`) or set features.virus_scan=0';

export const hostClamav: ClamavPlace = { kind: 'host', root: '/', path: (p) => p, pid: (d) => daemonPid(d) };

const configDir = (l: Layout) => join(l.configDir, 'clamav');
export const clamavConfigFile = (l: Layout, d: ClamavDaemon) => join(configDir(l), `${d}.conf`);
const databaseDir = (l: Layout) => join(l.stateDir, 'clamav');

/** Debian's packages run ClamAV as `clamav`; OpenWrt's as `nobody`. root: their root filesystem. */
export function clamavUser(root = '/'): { name: string; uid: number; gid: number } | null {
  for (const name of ['clamav', 'nobody']) {
    const uid = systemUserId(name, root);
    if (uid !== null) return { name, uid, gid: systemGroupId(name, root) ?? systemGroupId('nogroup', root) ?? uid };
  }
  return null;
}

/** Group of clamd's client: Rspamd's with spam_filter=1; otherwise clamav-milter, running as ClamAV's user. */
function clamdClientGid(s: Settings, clamav: { gid: number }): number {
  return (s.features.spamFilter ? rspamdUser()?.gid : undefined) ?? clamav.gid;
}

const runDirs = () => ({ clamdRunDir: hostPath('/var/run/mailserver/clamd'), milterRunDir: hostPath('/var/run/mailserver/clamav-milter') });

/** Its run directories as ClamAV sees them where it runs (`at`). */
const runDirsAt = (at: Pick<ClamavPlace, 'path'>) => ({ clamdRunDir: at.path(runDirs().clamdRunDir), milterRunDir: at.path(runDirs().milterRunDir) });

/** Paths as ClamAV sees them where it runs (`at`), with that machine's user. */
export function clamavView(s: Settings, l: Layout, at: Pick<ClamavPlace, 'kind' | 'root' | 'path'> = hostClamav): ClamavView {
  return {
    ...runDirsAt(at),
    user: clamavUser(at.root)?.name ?? 'clamav',
    databaseDir: at.path(databaseDir(l)),
    logDir: at.path(l.logDir),
    clamdConfigFile: at.path(clamavConfigFile(l, 'clamd')),
    milterForeground: at.kind === 'host',
  };
}

export interface ClamavFile {
  path: string;
  text: string;
  reloads: 'clamd' | 'clamav-milter' | 'rspamd';
}

/** ClamAV's files (only with virus_scan=1) and Rspamd's antivirus rules (whenever Rspamd runs). */
export function prepareClamav(s: Settings, l: Layout, at: Pick<ClamavPlace, 'kind' | 'root' | 'path'>): ClamavFile[] {
  const v = clamavView(s, l, at);
  const files: ClamavFile[] = [];
  if (s.features.virusScan) {
    for (const [name, text] of Object.entries(renderClamav(s, v))) {
      files.push({ path: join(configDir(l), name), text, reloads: name === 'clamav-milter.conf' ? 'clamav-milter' : 'clamd' });
    }
  }
  if (wantedMilter(s) === 'rspamd') {
    for (const [name, text] of Object.entries(renderRspamdAntivirus(s, v))) {
      files.push({ path: join(signingPaths(l).rspamdConfigDir, name), text, reloads: 'rspamd' });
    }
  }
  return files;
}

/** smtpd_milters entry of clamav-milter (virus_scan=1, spam_filter=0), else undefined. */
export function clamavMilter(s: Settings, l: Layout, at: Pick<ClamavPlace, 'kind' | 'root' | 'path'>): string | undefined {
  return clamavMilterAddress(s, clamavView(s, l, at));
}

// ---- processes ----

function pidOf(file: string): number | null {
  const pid = Number((readText(file) ?? '').trim());
  return processAlive(pid) ? pid : null;
}

function daemonPid(d: ClamavDaemon): number | null {
  return pidOf(clamavPidFile(d));
}

/** Database files clamd loads (official .cvd/.cld and custom signature files). */
function signatureFiles(l: Layout): { name: string; mtimeMs: number }[] {
  const dir = databaseDir(l);
  return listDir(dir)
    .filter((n) => /\.(cvd|cld|cud|ndb|hdb|hsb|ldb|cdb|mdb|msb|ndu|ldu|hdu|hsu|mdu|msu|yar|yara|cbc|pdb|wdb|gdb|ign2|fp|sfp|ftm|crb|cat|idb)$/.test(n))
    .map((name) => ({ name, mtimeMs: statOrNull(join(dir, name))?.mtimeMs ?? 0 }));
}

function assertInstalled(root = '/'): { name: string; uid: number; gid: number } {
  const user = clamavUser(root);
  const binaries = ['/usr/sbin/clamd', '/usr/sbin/clamav-milter', '/usr/bin/freshclam', '/usr/sbin/freshclam'];
  const has = (b: string) => binaries.some((p) => p.endsWith(`/${b}`) && exists(join(root, p)));
  const missing = ['clamd', 'freshclam'].filter((b) => !has(b));
  if (!user || missing.length) throw new MailError('unsupported', `features.virus_scan is on but ClamAV is not installed (${missing.join(', ') || 'no clamav user'} missing): ${CLAMAV_PACKAGES_HINT}`);
  return user;
}

/**
 * A ClamAV daemon's command line, in the foreground: clamd and freshclam are told so; clamav-milter
 * has no switch for it, its configuration says so on the host and not in a container.
 */
export function clamavCommand(l: Layout, d: ClamavDaemon, path = (p: string) => p): string[] {
  const config = `--config-file=${path(clamavConfigFile(l, d))}`;
  return d === 'freshclam' ? ['freshclam', config, '--daemon', '--foreground'] : d === 'clamd' ? ['clamd', config, '--foreground'] : [d, config];
}

/** The pid file of a ClamAV daemon as it sees it (`at`). */
export function clamavPidFile(d: ClamavDaemon, at: Pick<ClamavPlace, 'path'> = hostClamav): string {
  const v = runDirsAt(at);
  return d === 'clamd' ? clamdPidFile(v) : d === 'clamav-milter' ? milterPidFile(v) : freshclamPidFile(v);
}

/**
 * clamav-milter once clamd answers: it gives up at once when clamd does not, and it starts right
 * after clamd (procd's next instance, the container's next daemon), which loads its signatures
 * first (a minute or more with the official set on a router). The shell waits for clamd's socket
 * and live pid, then becomes the milter; a SIGTERM meanwhile ends the shell and leaves at most a
 * `sleep 1` behind. $1: clamd's socket, $2: clamd's pid file, $3: seconds without a live clamd
 * after which it gives up (0: never), then the milter's command line.
 */
const CLAMAV_MILTER_AFTER_CLAMD = [
  // (busybox's `kill -0 ""` succeeds: a missing or odd pid file is no live clamd.)
  `live() { p=$(cat "$1" 2>/dev/null); case $p in '' | *[!0-9]*) return 1 ;; esac; kill -0 "$p" 2>/dev/null; }`,
  'n=0',
  'until [ -S "$1" ] && live "$2"; do if live "$2"; then n=0; else n=$((n+1)); [ "$n" != "$3" ] || exit 1; fi; sleep 1; done',
  'shift 3',
  'exec "$@"',
].join('; ');

/**
 * Under procd it never gives up: procd starts clamd again when it dies, and would count each
 * give-up as a crash. In a container nobody does: after 10 s without a live clamd (one that
 * failed to load its signatures) it gives up, and the start says the milter did not start.
 */
export function clamavMilterAfterClamd(l: Layout, at: Pick<ClamavPlace, 'kind' | 'path'> = hostClamav): string[] {
  const v = runDirsAt(at);
  const seconds = at.kind === 'host' ? 0 : 10;
  return ['/bin/sh', '-c', CLAMAV_MILTER_AFTER_CLAMD, 'clamav-milter-after-clamd', clamdSocket(v), clamdPidFile(v), String(seconds), ...clamavCommand(l, 'clamav-milter', at.path)];
}

/**
 * A ClamAV daemon in the foreground, in a session of its own, until it is ready: its pid file
 * names it and, for clamd, its socket is bound (once its signatures are loaded: a minute or more
 * with the official set on a router). None is left to fork: clamd's parent waits for a signal
 * from its child, which the child, already ClamAV's user, may send before the parent, still root,
 * dropped its privileges; the signal is lost and the parent waits for ever (seen under load).
 */
function start(v: ClamavView, l: Layout, d: ClamavDaemon): void {
  const log = join(l.logDir, `${d}-start.log`);
  // A socket a killed clamd left behind is not a bound one (clamd replaces it when it binds).
  if (d === 'clamd') removeFile(clamdSocket(v));
  // In the foreground they echo their log on stdout, for as long as they run: errors (stderr) only.
  const pid = spawnBackground(clamavCommand(l, d), log, { errorsOnly: true });
  const ready = () => daemonPid(d) === pid && (d !== 'clamd' || clamdAnswers(v));
  for (let i = 0; i < 3000 && !ready() && processRunning(pid); i++) sleepSync(100);
  if (!ready()) throw new MailError('daemon_error', `${d} did not start: ${lastLines(log)}`);
}

function stop(d: ClamavDaemon): boolean {
  const pid = daemonPid(d);
  if (pid === null) return false;
  signal(pid, 'SIGTERM');
  for (let i = 0; i < 100 && processAlive(pid); i++) sleepSync(100);
  if (processAlive(pid)) signal(pid, 'SIGKILL');
  return true;
}

/** clamd accepts connections on its socket (it binds once its signatures are loaded). */
function clamdAnswers(v: ClamavView): boolean {
  return exists(clamdSocket(v));
}

/** ClamAV's directories and logs, owned as it needs them (before any start, procd's too). */
export function prepareClamavRun(s: Settings, l: Layout): void {
  const user = prepareClamavData(l);
  const v = clamavView(s, l);
  ensureDir(join(v.clamdRunDir, '..'), { mode: 0o755 });
  ensureDir(v.clamdRunDir, { mode: 0o750, uid: user.uid, gid: clamdClientGid(s, user) });
  ensureDir(v.milterRunDir, { mode: 0o750, uid: user.uid, gid: systemGroupId('postfix') ?? 0 });
}

/**
 * Its signature database and logs on data_path, owned by ClamAV's user of the machine it runs on
 * (root: that machine's root filesystem; a container numbers its users its own way).
 */
export function prepareClamavData(l: Layout, root = '/'): { name: string; uid: number; gid: number } {
  const user = assertInstalled(root);
  ensureDir(databaseDir(l), { mode: 0o755, uid: user.uid, gid: user.gid });
  ensureDir(l.logDir, { mode: 0o755 });
  for (const d of ['clamav-milter', 'clamd', 'freshclam'] as ClamavDaemon[]) {
    const log = join(l.logDir, `${d}.log`);
    if (!statOrNull(log)) writeAtomic(log, '', { mode: 0o640, uid: user.uid, gid: user.gid });
  }
  return user;
}

/** clamd can start: it refuses to without signatures (freshclam downloads them first). */
export function clamdCanStart(l: Layout): boolean {
  return signatureFiles(l).length > 0;
}

/**
 * The ClamAV daemons the settings want run, and no other. clamd needs signatures: without any,
 * only freshclam runs (status: downloading) and mail waits (Rspamd soft-rejects, Postfix's
 * milter_default_action defers) until a later start, apply or tick finds them. Returns the daemons
 * started or stopped.
 */
export function reconcileClamav(s: Settings, l: Layout): ClamavDaemon[] {
  const changed: ClamavDaemon[] = [];
  const all: ClamavDaemon[] = ['clamav-milter', 'clamd', 'freshclam'];
  if (!s.features.virusScan) {
    for (const d of all) if (stop(d)) changed.push(d);
    return changed;
  }
  const v = clamavView(s, l);
  prepareClamavRun(s, l);
  if (daemonPid('freshclam') === null) (start(v, l, 'freshclam'), changed.push('freshclam'));
  if (daemonPid('clamd') === null && signatureFiles(l).length > 0) (start(v, l, 'clamd'), changed.push('clamd'));
  const milterWanted = !s.features.spamFilter;
  // A milter that outlived its clamd starts afresh with the new one.
  if ((!milterWanted || changed.includes('clamd')) && stop('clamav-milter')) changed.push('clamav-milter');
  // clamav-milter refuses to start without a clamd to talk to: until clamd runs, Postfix defers.
  if (milterWanted && daemonPid('clamav-milter') === null && clamdAnswers(v) && daemonPid('clamd') !== null) {
    start(v, l, 'clamav-milter');
    changed.push('clamav-milter');
  }
  return changed;
}

/** End a ClamAV daemon for procd to start again (it re-reads its configuration only at start). */
export function endClamavDaemon(d: 'clamd' | 'clamav-milter'): boolean {
  return stop(d);
}

/** The ClamAV daemons that run are those the settings need (clamd once it has signatures). */
export function clamavAsWanted(s: Settings, l: Layout): boolean {
  const freshclam = daemonPid('freshclam') !== null;
  const clamd = daemonPid('clamd') !== null;
  if (!s.features.virusScan) return !freshclam && !clamd;
  return freshclam && (clamd || !clamdCanStart(l));
}

export function stopClamav(): void {
  for (const d of ['clamav-milter', 'clamd', 'freshclam'] as ClamavDaemon[]) stop(d);
}

/** A changed clamd.conf or clamav-milter.conf: restart that daemon (neither re-reads it). */
export function restartClamav(s: Settings, l: Layout, d: 'clamd' | 'clamav-milter'): boolean {
  if (!stop(d)) return false;
  if (d === 'clamd') stop('clamav-milter');
  reconcileClamav(s, l);
  return true;
}

export interface VirusScanState {
  enabled: boolean;
  /** running | no signatures | downloading virus signatures | stopped | not installed */
  state: string;
  /** What a person should know: why mail waits, what to install, low memory. */
  message: string | null;
  clamd: { running: boolean; pid: number | null; memoryBytes: number | null };
  milter: { running: boolean; pid: number | null } | null;
  freshclam: { running: boolean; pid: number | null; lastError: string | null };
  signatures: { files: number; updated: string | null; ageDays: number | null };
  memory: { availableBytes: number | null; neededBytes: number; warning: string | null };
}

function memInfo(key: string): number | null {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readText('/proc/meminfo') ?? '');
  return m ? Number(m[1]) * 1024 : null;
}

function residentBytes(pid: number): number | null {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) * 1024 : null;
}

/** The last error of freshclam's last run, when that run failed. */
function freshclamError(l: Layout): string | null {
  const runs = (readText(join(l.logDir, 'freshclam.log')) ?? '').split('--------------------------------------');
  const last = runs.map((r) => r.trim()).filter((r) => r !== '').pop() ?? '';
  const errors = last.split('\n').filter((x) => /ERROR:/.test(x));
  if (!errors.length) return null;
  return errors[0]!.replace(/^.*?ERROR:\s*/, '').trim() + (errors.length > 1 ? ` (${errors[errors.length - 1]!.replace(/^.*?ERROR:\s*/, '').trim()})` : '');
}

export function virusScanState(s: Settings, l: Layout, at: ClamavPlace = hostClamav, now = Date.now()): VirusScanState {
  const clamd = at.pid('clamd');
  const milter = at.pid('clamav-milter');
  const freshclam = at.pid('freshclam');
  const sigs = signatureFiles(l);
  const newest = sigs.length ? Math.max(...sigs.map((x) => x.mtimeMs)) : null;
  const memoryBytes = clamd === null ? null : residentBytes(clamd);
  // Only when scanning is on: a live figure would make every status reply differ from the last.
  const available = s.features.virusScan ? memInfo('MemAvailable') : null;
  // What clamd would have once it loaded the official set: the free memory plus what it holds.
  const room = available === null ? null : available + (memoryBytes ?? 0);
  const lowMemory = s.features.virusScan && room !== null && room < CLAMAV_FULL_SET_MEMORY
    ? `only ${Math.round(room / 1048576)} MiB of memory free: ClamAV with the official signatures needs about ${Math.round(CLAMAV_FULL_SET_MEMORY / 1048576)} MiB`
    : null;
  const lastError = freshclamError(l);
  let state: string;
  let message: string | null = null;
  if (!s.features.virusScan) state = 'off';
  else if (!clamavUser(at.root) || !exists(join(at.root, 'usr/sbin/clamd'))) (state = 'not installed', (message = `ClamAV is not installed: ${CLAMAV_PACKAGES_HINT}`));
  else if (clamd !== null) state = 'running';
  else if (sigs.length === 0 && freshclam !== null && lastError === null) (state = 'downloading virus signatures', (message = 'downloading virus signatures: mail waits (deferred) until clamd can scan it'));
  else if (sigs.length === 0) (state = 'no signatures', (message = `no virus signatures yet${lastError ? `: freshclam failed (${lastError}); it tries again every 2 hours` : ''}: mail waits (deferred) until clamd can scan it`));
  else (state = 'stopped', (message = 'clamd is not running: mail waits (deferred) until it runs (mailctl start)'));
  if (s.features.virusScan && !s.features.spamFilter && clamd !== null && milter === null) message = 'clamav-milter is not running: mail waits (deferred) until it runs (mailctl start)';
  return {
    enabled: s.features.virusScan,
    state,
    message: [message, lowMemory].filter((x) => x !== null).join('; ') || null,
    clamd: { running: clamd !== null, pid: clamd, memoryBytes },
    milter: s.features.spamFilter ? null : { running: milter !== null, pid: milter },
    freshclam: { running: freshclam !== null, pid: freshclam, lastError },
    signatures: { files: sigs.length, updated: newest === null ? null : new Date(newest).toISOString(), ageDays: newest === null ? null : Math.floor((now - newest) / 86_400_000) },
    memory: { availableBytes: available, neededBytes: CLAMAV_FULL_SET_MEMORY, warning: lowMemory },
  };
}

function lastLines(file: string): string {
  return (readText(file) ?? '').trim().split('\n').slice(-3).join(' / ');
}
