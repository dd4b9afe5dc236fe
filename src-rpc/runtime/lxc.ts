// The lxc runtime: the daemons run in a container under lxc.path, made from a rootfs for this
// machine's architecture. data_path's directories and the log directory are bind mounts, so the
// data has one copy, on the host, where backups and the CLI see it; inside, the daemons see them
// at the paths the product uses on a router (data_path itself, /var/log/mailserver). Every
// command inside goes through `lxc-attach -- argv`; the container's init (render/lxc.ts) starts
// the daemons when the container starts, also when procd starts it with `lxc-start -F`.
import { dirname, join, relative } from 'node:path';
import { readText, writeAtomic, ensureDir, exists, removeTree, rename, statOrNull, noSpaceFor } from '../sys/fs.ts';
import { run, runDetached, sleepSync, processesInNamespaceOf, signal, type RunOptions, type RunResult } from '../sys/spawn.ts';
import { sandboxRoot } from '../sys/paths.ts';
import { sha256File } from '../sys/crypto.ts';
import { replaceSymlink } from '../sys/links.ts';
import { MailError } from '../core/errors.ts';
import { GENERATED } from '../render/text.ts';
import { renderLxcConfig, renderContainerInit, CONTAINER_INIT, INIT_READY, type BindMount, type ContainerDaemon } from '../render/lxc.ts';
import { hostView, type ServiceState } from './host.ts';
import { debootstrapRootfs, installPackages, ensureMailAccount, rootfsPresent, missingPackages, tail } from './lxc-rootfs.ts';
import { machineArch, rootfsCommand, type ImageSpec } from './lxc-image.ts';
import { layoutFor, SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { dkimSecretsDir } from '../dkim/keys.ts';
import type { Settings } from '../config/settings.ts';
import type { RuntimeView } from '../render/view.ts';
import type { DaemonFacts } from './facts.ts';
import type { Service } from './converge.ts';
import { signingPaths, wantedMilter, signerOf, rspamdArguments, rspamdPidFile, opendkimPidFile, opendkimInstances, prepareRspamdData, milterAddress, hangUpRspamd, OPENDKIM_INSTANCES, type Milter, type MilterProbe } from './signing.ts';
import { opendkimName } from '../render/opendkim.ts';
import { clamavCommand, clamavMilterAfterClamd, clamavConfigFile, clamavPidFile, clamavUser, clamdCanStart, prepareClamavData, type ClamavDaemon, type ClamavPlace } from './clamav.ts';

export interface ContainerPaths {
  /** lxc.path on the host (LXC's -P). */
  lxcPath: string;
  dir: string;
  rootfs: string;
  config: string;
  log: string;
}

export function containerPaths(s: Settings): ContainerPaths {
  const lxcPath = join(sandboxRoot(), s.lxc.path);
  const dir = join(lxcPath, s.main.container);
  return { lxcPath, dir, rootfs: layoutFor(s).daemonsRoot, config: join(dir, 'config'), log: join(dir, 'lxc.log') };
}

/** Where the container sees a path of the host's data: the product's own absolute path. */
export function containerPath(hostPath: string): string {
  return `/${relative(sandboxRoot(), hostPath)}`;
}

/** The renderers' view from inside: the same ids (mail uid/gid 5000), paths as mounted. */
export function lxcView(l: Layout, facts: Pick<DaemonFacts, 'mapType' | 'postfixVersion'>): RuntimeView {
  const host = hostView(l, facts);
  const view = { ...host };
  for (const [key, value] of Object.entries(host)) if (typeof value === 'string' && value.startsWith('/')) (view as Record<string, unknown>)[key] = containerPath(value);
  return view;
}

/**
 * Of secrets/, only what the daemons read: the DKIM keys and Postfix's relay password map. The
 * rest (backup, mesh, ACME and DNS keys) is the host's alone: a compromised daemon must not own it.
 */
const daemonSecretsDirs = (l: Layout) => [dkimSecretsDir(l), l.postfixSecretsDir];

function mounts(l: Layout): BindMount[] {
  return [l.configDir, l.mailDir, l.sslDir, ...daemonSecretsDirs(l), l.stateDir, l.logDir].map((host) => ({ host, container: containerPath(host) }));
}

// ---- LXC's tools ----

const lxc = (tool: string, s: Settings, ...args: string[]) => [tool, '-n', s.main.container, '-P', containerPaths(s).lxcPath, ...args];

/** A command inside the running container: argv as given, no shell, a clean environment. */
export function attach(s: Settings, argv: string[], opts: RunOptions = {}): RunResult {
  return run(attachArgv(s, argv), { cwd: '/', ...opts });
}

const attachArgv = (s: Settings, argv: string[]) => [...lxc('lxc-attach', s), '--clear-env', '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--', ...argv];

export interface ContainerInfo {
  /** LXC's state in lower case (running, stopped, starting, stopping, ...); `absent` before install. */
  state: string;
  /** Host pid of the container's init. */
  pid: number | null;
  addresses: string[];
  memoryBytes: number | null;
}

export function containerInfo(s: Settings): ContainerInfo {
  if (!exists(containerPaths(s).config)) return { state: 'absent', pid: null, addresses: [], memoryBytes: null };
  const r = run(lxc('lxc-info', s, '-s', '-p', '-i', '-S', '-H'));
  const field = (name: string) => [...r.stdout.matchAll(new RegExp(`^${name}:\\s*(.+)$`, 'gm'))].map((m) => m[1]!.trim());
  const pid = Number(field('PID')[0]);
  const memory = Number(field('Memory use')[0]);
  return {
    state: (field('State')[0] ?? 'stopped').toLowerCase(),
    pid: Number.isInteger(pid) && pid > 0 ? pid : null,
    addresses: field('IP'),
    memoryBytes: Number.isFinite(memory) && field('Memory use').length ? memory : null,
  };
}

export const containerRunning = (s: Settings) => containerInfo(s).state === 'running';

/** The container in the foreground: procd's instance on a router (lxc-start forwards procd's SIGTERM to our init). */
export const containerForeground = (s: Settings) => lxc('lxc-start', s, '-F');

/** What `status` shows of the container (the Overview codes against this shape). */
export function containerStatus(s: Settings) {
  const info = containerInfo(s);
  const osRelease = readText(join(containerPaths(s).rootfs, 'etc/os-release')) ?? '';
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? null;
  const address = s.lxc.network === 'host' ? (s.main.listen[0] ?? null) : (info.addresses.find((a) => !a.includes(':')) ?? info.addresses[0] ?? null);
  return { name: s.main.container, state: info.state, address, memoryBytes: info.memoryBytes, distribution: pretty };
}

// ---- the daemons inside ----

const MILTERS: Milter[] = ['rspamd', 'opendkim'];

/** The program behind each daemon's master (Postfix's is `master`). */
const EXECUTABLES: Record<ContainerDaemon, string> = {
  dovecot: 'dovecot', postfix: 'master', rspamd: 'rspamd', opendkim: 'opendkim', clamd: 'clamd', 'clamav-milter': 'clamav-milter', freshclam: 'freshclam',
};
/** Not among the services (as on the host): status shows them as `virus`, and mail waits for clamd's signatures. */
const isClamav = (d: ContainerDaemon): d is ClamavDaemon => d === 'clamd' || d === 'clamav-milter' || d === 'freshclam';

interface ContainerDaemonCommands {
  name: ContainerDaemon;
  start: string[];
  stop: string[];
  /** Run in order to make it re-read its configuration. */
  reload: string[][];
  /** Its configuration: the init starts it only once apply wrote it. */
  needs?: string;
}

/**
 * A milter through its pid file (dpkg's start-stop-daemon, also a busybox applet): no shell
 * needed. --oknodo: one already running (started) or already gone (stopped) is what was asked.
 */
const startByPidFile = (pidFile: string, program: string, args: string[]) => ['start-stop-daemon', '--start', '--quiet', '--oknodo', '--pidfile', pidFile, '--startas', program, '--', ...args];
const stopByPidFile = (pidFile: string) => ['start-stop-daemon', '--stop', '--quiet', '--oknodo', '--retry', '10', '--pidfile', pidFile];

/** The container's own Rspamd user (its Debian numbers it its own way). */
const containerRspamdUser = (s: Settings) => signerOf('rspamd', false, containerPaths(s).rootfs);

/**
 * A daemon that stays in the foreground, detached by start-stop-daemon, which returns at once
 * (`env` finds the program on PATH).
 */
const startDetachedByPidFile = (pidFile: string, argv: string[]) => ['start-stop-daemon', '--start', '--quiet', '--oknodo', '--background', '--pidfile', pidFile, '--startas', '/usr/bin/env', '--', ...argv];

/**
 * ClamAV (virus_scan=1): freshclam, clamd (without signatures it exits at once: the init goes on,
 * and a later start or apply starts it once freshclam has them), clamav-milter with Rspamd off,
 * once clamd answers. clamd and freshclam are not left to fork: clamd's forked parent can wait
 * for ever for its child's signal (see clamav.ts), and the init with it. None of them re-reads its
 * configuration: a reload restarts it.
 */
function clamavCommands(s: Settings, l: Layout): ContainerDaemonCommands[] {
  if (!s.features.virusScan) return [];
  const daemons: ClamavDaemon[] = ['freshclam', 'clamd', ...(s.features.spamFilter ? [] : ['clamav-milter' as const])];
  const inside = { kind: 'container' as const, path: containerPath };
  return daemons.map((d) => {
    const pid = clamavPidFile(d, inside);
    const start = d === 'clamav-milter' ? clamavMilterAfterClamd(l, inside) : startDetachedByPidFile(pid, clamavCommand(l, d, containerPath));
    return { name: d, start, stop: stopByPidFile(pid), reload: [stopByPidFile(pid), start], needs: containerPath(clamavConfigFile(l, d)) };
  });
}

/** In the order the init starts them: Dovecot, ClamAV (the milters ask clamd), the milter Postfix asks, Postfix. */
function daemonCommands(s: Settings, l: Layout): ContainerDaemonCommands[] {
  const view = { dovecotConfigFile: containerPath(l.dovecotConfigFile), postfixConfigDir: containerPath(l.postfixConfigDir) };
  const p = signingPaths(l);
  const milter = wantedMilter(s);
  const milters: ContainerDaemonCommands[] = [];
  if (milter === 'rspamd') {
    const pid = containerPath(rspamdPidFile(l));
    const user = containerRspamdUser(s)?.name ?? '_rspamd';
    // Reloaded with SIGHUP from the host (reloadContainerDaemons), waiting for its old workers to end.
    milters.push({ name: 'rspamd', start: startByPidFile(pid, '/usr/bin/rspamd', rspamdArguments(l, user, containerPath)), stop: stopByPidFile(pid), reload: [], needs: containerPath(p.rspamdConfigDir) });
  } else if (milter === 'opendkim') {
    for (const i of opendkimInstances(s)) {
      const pid = containerPath(opendkimPidFile(l, i));
      const start = startByPidFile(pid, '/usr/sbin/opendkim', ['-x', containerPath(join(p.opendkimConfigDir, opendkimName(i, 'opendkim', 'conf')))]);
      // OpenDKIM is restarted: it starts in a moment.
      milters.push({ name: 'opendkim', start, stop: stopByPidFile(pid), reload: [stopByPidFile(pid), start], needs: start[start.length - 1]! });
    }
  }
  return [
    { name: 'dovecot', start: ['dovecot', '-c', view.dovecotConfigFile], stop: ['dovecot', '-c', view.dovecotConfigFile, 'stop'], reload: [['dovecot', '-c', view.dovecotConfigFile, 'reload']] },
    ...clamavCommands(s, l),
    ...milters,
    { name: 'postfix', start: ['postfix', '-c', view.postfixConfigDir, 'start'], stop: ['postfix', '-c', view.postfixConfigDir, 'stop'], reload: [['postfix', '-c', view.postfixConfigDir, 'reload']] },
  ];
}

/** The milters' directories on the container's /run: [path, mode, owner] as the init makes them. */
function milterRunDirs(s: Settings, l: Layout): [string, string, string][] {
  const p = signingPaths(l);
  const milter = wantedMilter(s);
  if (milter === 'rspamd') {
    const user = containerRspamdUser(s)?.name ?? '_rspamd';
    return [[containerPath(join(p.rspamdRunDir, '..')), '0755', 'root:root'], [containerPath(p.rspamdRunDir), '0700', `${user}:${user}`], [containerPath(p.rspamdMilterDir), '0750', `${user}:postfix`]];
  }
  if (milter === 'opendkim') return [[containerPath(join(p.opendkimRunDir, '..')), '0755', 'root:root'], [containerPath(p.opendkimRunDir), '0750', 'opendkim:postfix']];
  return [];
}

/** ClamAV's directories on the container's /run: clamd's socket for its client (Rspamd, or clamav-milter as ClamAV's user), the milter's for Postfix. */
function clamavRunDirs(s: Settings): [string, string, string][] {
  if (!s.features.virusScan) return [];
  const user = clamavUser(containerPaths(s).rootfs)?.name ?? 'clamav';
  const client = s.features.spamFilter ? (containerRspamdUser(s)?.name ?? '_rspamd') : user;
  return [[dirname(clamavPidFile('clamd', { path: containerPath })), '0750', `${user}:${client}`], [dirname(clamavPidFile('clamav-milter', { path: containerPath })), '0750', `${user}:postfix`]];
}

/** The container's processes (host pids) per daemon, oldest first; none while it is not running. */
function processesByDaemon(info: ContainerInfo): (d: ContainerDaemon) => number[] {
  const inside = info.state === 'running' && info.pid !== null ? processesInNamespaceOf(info.pid) : [];
  return (d) => inside.filter((p) => p.executable === EXECUTABLES[d]).map((p) => p.pid).sort((a, b) => a - b);
}

/** ClamAV in the container, for its state in status (its pid files are on the container's /run). */
export function containerClamav(s: Settings): ClamavPlace {
  let pids: ((d: ContainerDaemon) => number[]) | null = null;
  return {
    kind: 'container',
    root: containerPaths(s).rootfs,
    path: containerPath,
    pid: (d) => (pids ??= processesByDaemon(containerInfo(s)))(d)[0] ?? null,
  };
}

/** The daemons of the container as the host sees them (none while it is not running). */
export function containerServiceStates(s: Settings): ServiceState[] {
  const info = containerInfo(s);
  const processes = processesByDaemon(info);
  const commands = daemonCommands(s, layoutFor(s));
  // Also a milter the settings no longer want that still runs (as on the host).
  const leftOver = MILTERS.filter((m) => m !== wantedMilter(s) && processes(m).length > 0);
  const names = [...new Set(commands.map((d) => d.name))].filter((name): name is Exclude<ContainerDaemon, ClamavDaemon> => !isClamav(name));
  names.splice(names.indexOf('postfix'), 0, ...leftOver);
  const states = names.map((name): ServiceState => {
    // The master: the oldest process running the daemon's program (workers come later).
    const pids = processes(name);
    // OpenDKIM runs one process per instance (algorithm): all must be there.
    const running = pids.length > 0 && (name !== 'opendkim' || pids.length >= commands.filter((d) => d.name === name).length);
    const state: ServiceState = { name, running, pid: pids[0] ?? null };
    if (info.state !== 'running') state.problem = info.state === 'absent' ? 'its container is not installed (mailctl install)' : info.state === 'stopped' ? 'its container stopped' : `its container is ${info.state}`;
    return state;
  });
  return states;
}

function checkedAttach(s: Settings, argv: string[], what: string): void {
  const r = attach(s, argv);
  if (r.code !== 0) throw new MailError('daemon_error', `${what} failed in container '${s.main.container}': ${tail(r.stderr || r.stdout, 3) || `exit ${r.code}`}`);
}

/** Whether a daemon runs now: the services from their states, ClamAV's daemons from their processes. */
function runningNow(s: Settings, states = containerServiceStates(s)): (d: ContainerDaemon) => boolean {
  const clamav = containerClamav(s);
  return (d) => (isClamav(d) ? clamav.pid(d) !== null : states.find((x) => x.name === d)?.running === true);
}

/**
 * Start the container when it is not running (its init starts the daemons): detached, or by
 * `launch` (procd's instance on a router, which then keeps it running).
 */
export function startContainer(s: Settings, launch?: () => void): boolean {
  let started = false;
  if (!containerRunning(s)) {
    if (launch) {
      launch();
    } else {
      const r = run(lxc('lxc-start', s, '-d'));
      // lxc-start only says that it failed; why is in the container's log.
      if (r.code !== 0) throw new MailError('daemon_error', `lxc-start failed for container '${s.main.container}': ${lastLog(s)}`);
    }
    // procd starts its instance a moment after the init script returned.
    for (let i = 0; i < 300 && !containerRunning(s); i++) sleepSync(100);
    if (!containerRunning(s)) throw new MailError('daemon_error', `container '${s.main.container}' did not stay up: ${lastLog(s)}`);
    // Its init starts the daemons: starting one of them from here meanwhile would race it.
    for (let i = 0; i < 600 && containerRunning(s) && attach(s, ['test', '-e', INIT_READY]).code !== 0; i++) sleepSync(100);
    started = true;
  }
  return started;
}

/**
 * Every daemon inside that is not running (a first start has no configuration before apply);
 * `which`: only those.
 */
export function startContainerDaemons(s: Settings, l: Layout, which: (d: ContainerDaemon) => boolean = () => true): ContainerDaemon[] {
  const running = runningNow(s);
  const started: ContainerDaemon[] = [];
  for (const d of daemonCommands(s, l)) {
    if (!which(d.name) || running(d.name)) continue;
    // clamd refuses to start without signatures, clamav-milter without clamd: mail waits (deferred).
    if ((d.name === 'clamd' && !clamdCanStart(l)) || (d.name === 'clamav-milter' && !running('clamd') && !started.includes('clamd'))) continue;
    // The daemon forks and keeps its stdio: it goes to a log file, never to a pipe we wait on.
    const log = join(l.logDir, `${d.name}-start.log`);
    // clamav-milter waits for clamd to load its signatures: with the official set, a minute or more on a router.
    const r = runDetached(attachArgv(s, d.start), log, undefined, 300_000);
    if (r.code !== 0) throw new MailError('daemon_error', `${d.name} did not start in container '${s.main.container}': ${tail(readText(log) ?? '', 3) || `exit ${r.code}`}`);
    if (!started.includes(d.name)) started.push(d.name);
  }
  // Dovecot forks: the host sees its master a moment after the command returned.
  for (let i = 0; i < 50 && containerServiceStates(s).some((d) => !d.running); i++) sleepSync(100);
  return started;
}

/**
 * Stop and start these daemons inside (those running): for what a reload does not take, such as
 * Postfix's inet_interfaces, read only when it starts.
 */
export function restartContainerDaemons(s: Settings, l: Layout, services: Service[]): ContainerDaemon[] {
  const states = containerServiceStates(s);
  const restart = daemonCommands(s, l).filter((d) => !isClamav(d.name) && services.includes(d.name) && states.find((x) => x.name === d.name)?.running);
  for (const d of restart) checkedAttach(s, d.stop, `${d.name} stop`);
  const names = restart.map((d) => d.name);
  return startContainerDaemons(s, l, (d) => names.includes(d));
}

/** LXC's last errors about the container (its log also holds warnings of every attach). */
function lastLog(s: Settings): string {
  const errors = (readText(containerPaths(s).log) ?? '').split('\n').filter((line) => / ERROR /.test(line));
  return errors.slice(-3).map((line) => line.replace(/^.*? ERROR\s+/, '')).join(' / ') || `see ${containerPaths(s).log}`;
}

/** Stop the container (the init stops the daemons cleanly on SIGTERM). */
export function stopContainer(s: Settings): boolean {
  if (!['running', 'starting', 'frozen'].includes(containerInfo(s).state)) return false;
  const r = run(lxc('lxc-stop', s, '-t', '30'), { timeoutMs: 60_000 });
  if (r.code !== 0 && containerRunning(s)) throw new MailError('daemon_error', `lxc-stop failed for container '${s.main.container}': ${tail(r.stderr || r.stdout)}`);
  return true;
}

/**
 * Reload the running daemons whose files changed. While Postfix runs, the milter the settings
 * want runs and no other (a switch of spam_filter or dkim); the init's script follows the settings
 * too, for the container's next start. Done once the milter answers on its socket: the next
 * message is not deferred for a milter still starting, nor signed by an Rspamd's old workers.
 */
export function reloadContainerDaemons(s: Settings, l: Layout, services: Service[]): Service[] {
  configureContainer(s, l);
  const states = containerServiceStates(s);
  const running = runningNow(s, states);
  const switched = running('postfix') ? reconcileContainerMilters(s, l, states) : [];
  const reloaded: Service[] = [...switched];
  for (const d of daemonCommands(s, l)) {
    if (d.name === 'freshclam' || !services.includes(d.name) || !running(d.name) || switched.includes(d.name)) continue;
    if (d.name === 'rspamd') {
      // A Rspamd still loading has no pid file yet, and reads the new configuration anyway.
      const master = states.find((x) => x.name === 'rspamd')?.pid ?? null;
      if (master === null || attach(s, ['test', '-s', containerPath(rspamdPidFile(l))]).code !== 0) continue;
      hangUpRspamd(master);
    } else {
      for (const argv of d.reload) checkedAttach(s, argv, `${d.name} reload`);
    }
    if (!reloaded.includes(d.name)) reloaded.push(d.name);
  }
  if (reloaded.some((d) => d === 'opendkim' || d === 'rspamd')) awaitMilterListening(s, l);
  return reloaded;
}

/**
 * The ClamAV daemons the settings want run in the running container, and no other (as
 * reconcileClamav on the host): virus_scan switched, clamd stopped, signatures that arrived.
 */
export function reconcileContainerClamav(s: Settings, l: Layout): ContainerDaemon[] {
  const clamav = containerClamav(s);
  const wanted = new Set(clamavCommands(s, l).map((d) => d.name));
  const stopped = (['clamav-milter', 'clamd', 'freshclam'] as const).filter((d) => !wanted.has(d) && clamav.pid(d) !== null);
  for (const d of stopped) signal(clamav.pid(d)!, 'SIGTERM');
  return [...stopped, ...startContainerDaemons(s, l, isClamav)];
}

/** Stop the milters the settings do not want (and OpenDKIM instances of a dropped algorithm), start the one they want. */
function reconcileContainerMilters(s: Settings, l: Layout, states: ServiceState[]): Service[] {
  const wanted = wantedMilter(s);
  const changed: Service[] = [];
  for (const m of MILTERS) {
    if (!states.some((x) => x.name === m && (x.running || x.pid !== null))) continue;
    const unwanted = m === 'rspamd' ? (wanted === m ? [] : [rspamdPidFile(l)]) : OPENDKIM_INSTANCES.filter((i) => wanted !== m || !opendkimInstances(s).includes(i)).map((i) => opendkimPidFile(l, i));
    for (const pidFile of unwanted) checkedAttach(s, stopByPidFile(containerPath(pidFile)), `${m} stop`);
    if (m !== wanted) changed.push(m);
  }
  if (wanted && !states.find((x) => x.name === wanted)?.running) {
    // The init made the milter's directories on /run for the milter of its time only.
    for (const [dir, mode, owner] of milterRunDirs(s, l)) {
      for (const argv of [['mkdir', '-p', dir], ['chmod', mode, dir], ['chown', owner, dir]]) checkedAttach(s, argv, `preparing ${dir}`);
    }
    changed.push(...startContainerDaemons(s, l, (d) => d === wanted).filter((d): d is Service => d !== 'freshclam'));
  }
  return changed;
}

/** Rspamd starts in a moment once its rules are compiled (a first start compiles for minutes: status says so meanwhile). */
const MILTER_SOCKET_WAIT_MS = 10_000;

function awaitMilterListening(s: Settings, l: Layout): void {
  for (const deadline = Date.now() + MILTER_SOCKET_WAIT_MS; !milterListening(s, l) && Date.now() < deadline; ) sleepSync(200);
}

/** Every socket Postfix asks the wanted milter on is there, inside the container. */
function milterListening(s: Settings, l: Layout): boolean {
  const sockets = (milterAddress(s, l, containerPath) ?? '').split(', ').filter((a) => a !== '').map((a) => a.replace(/^unix:/, ''));
  return sockets.every((socket) => attach(s, ['test', '-S', socket]).code === 0);
}

/** The wanted milter as status sees it inside the container: a loading Rspamd's process already runs there. */
export function containerMilterProbe(s: Settings, l: Layout): MilterProbe {
  const m = wantedMilter(s);
  return {
    root: containerPaths(s).rootfs,
    running: () => containerServiceStates(s).some((x) => x.name === m && x.running),
    listening: () => milterListening(s, l),
    loading: () => false,
  };
}

export function flushContainerQueue(s: Settings, l: Layout): void {
  attach(s, ['postqueue', '-c', containerPath(l.postfixConfigDir), '-f']);
}

// ---- install ----

export function imageSpec(s: Settings): ImageSpec {
  return { distribution: s.lxc.distribution, release: s.lxc.release, arch: s.lxc.arch ?? machineArch() };
}

/** The container's LXC config is ours (mailctl wrote it). */
export function ourContainer(s: Settings): boolean {
  return readText(containerPaths(s).config)?.startsWith(GENERATED) ?? false;
}

/** Installed and ours: the commands that run it may. */
export function assertContainerInstalled(s: Settings): void {
  assertOurContainer(s);
  if (!ourContainer(s) || !rootfsPresent(containerPaths(s).rootfs)) {
    throw new MailError('not_found', `container '${s.main.container}' is not installed under ${s.lxc.path}: run \`mailctl install\``);
  }
}

/** A container of this name that mailctl did not make is not ours to change. */
export function assertOurContainer(s: Settings): void {
  const p = containerPaths(s);
  const config = readText(p.config);
  if (config !== null && !config.startsWith(GENERATED)) {
    throw new MailError('conflict', `container name '${s.main.container}' is already used by a container mailctl did not make (${p.config}): set main.container to another name`, 'main.container');
  }
  if (config === null && exists(p.rootfs)) {
    throw new MailError('conflict', `container name '${s.main.container}' is already used: ${p.dir} holds a rootfs without our configuration; set main.container to another name or remove it`, 'main.container');
  }
}

/**
 * The rootfs from a tarball (its .sha256 beside it checked), debootstrap or LXC's download
 * template. Built aside and moved into place, so a failure leaves no half rootfs behind.
 */
export function makeRootfs(s: Settings, tarball: string | undefined): string {
  const p = containerPaths(s);
  const partial = `${p.rootfs}.partial`;
  removeTree(partial);
  ensureDir(p.dir, { mode: 0o755 });
  try {
    if (tarball !== undefined) {
      extractTarball(tarball, partial);
    } else if (s.lxc.rootfs === 'debootstrap') {
      ensureDir(partial, { mode: 0o755 });
      debootstrapRootfs(s.lxc, imageSpec(s).arch, partial);
    } else {
      download(s, partial);
    }
    rename(partial, p.rootfs);
  } finally {
    removeTree(partial);
  }
  return tarball ?? s.lxc.rootfs;
}

function extractTarball(file: string, into: string): void {
  if (!statOrNull(file)?.isFile()) throw new MailError('not_found', `rootfs tarball ${file} does not exist`);
  const sums = readText(`${file}.sha256`);
  if (sums !== null) {
    const expected = sums.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
    const actual = sha256File(file);
    if (expected !== actual) throw new MailError('invalid_argument', `rootfs tarball ${file} does not match its checksum (${file}.sha256 says ${expected.slice(0, 16)}…, the file is ${actual.slice(0, 16)}…)`);
  }
  ensureDir(into, { mode: 0o755 });
  const r = run(['tar', '--numeric-owner', '-xf', file, '-C', into], { timeoutMs: 600_000 });
  // tar names the first file it could not write: a full disk is said as such, with that file.
  const full = /^tar: (.+?): .*No space left on device$/m.exec(r.stderr)?.[1];
  if (r.code !== 0 && full !== undefined) throw noSpaceFor(join(into, full), { code: 'ENOSPC' });
  if (r.code !== 0) throw new MailError('daemon_error', `unpacking ${file} failed: ${tail(r.stderr)}`);
  if (!rootfsPresent(into)) throw new MailError('invalid_argument', `${file} is not a root filesystem (no /bin/sh or /etc/os-release in it)`);
}

/** LXC's download template into a scratch container, whose rootfs is then ours. */
function download(s: Settings, into: string): void {
  const spec = imageSpec(s);
  const scratch = `${s.main.container}.download`;
  const p = containerPaths(s);
  removeTree(join(p.lxcPath, scratch));
  const r = run(rootfsCommand(s.lxc, spec.arch, { dir: into, lxcPath: p.lxcPath, scratch }), { timeoutMs: 1_800_000 });
  try {
    if (r.code !== 0) throw new MailError('daemon_error', `LXC's download template failed for ${spec.distribution} ${spec.release} ${spec.arch}: ${tail(r.stderr || r.stdout)}`);
    rename(join(p.lxcPath, scratch, 'rootfs'), into);
  } finally {
    removeTree(join(p.lxcPath, scratch));
  }
}

export function installContainerPackages(s: Settings): string[] {
  const rootfs = containerPaths(s).rootfs;
  const added = installPackages(rootfs, s.lxc.distribution, s.features);
  return ensureMailAccount(rootfs) ? [...added, 'mail account 5000'] : added;
}

function cgroupVersion(): 1 | 2 {
  return exists('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
}

/** LXC's config as the settings want it (which also claims the name); whether it changed. */
export function writeLxcConfig(s: Settings, l: Layout): boolean {
  const p = containerPaths(s);
  ensureDir(p.dir, { mode: 0o755 });
  // LXC refuses to start a container whose bind mount has no source (no DKIM key made yet).
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  for (const dir of daemonSecretsDirs(l)) ensureDir(dir, { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  return writeAtomic(p.config, renderLxcConfig(s.lxc, { name: s.main.container, rootfs: p.rootfs, mounts: mounts(l), cgroupVersion: cgroupVersion(), logFile: p.log }), { mode: 0o644 });
}

/** LXC's config and our init, as the settings want them. Returns the files that changed. */
export function configureContainer(s: Settings, l: Layout): string[] {
  const p = containerPaths(s);
  const init = renderContainerInit({
    daemons: daemonCommands(s, l),
    runDirs: [[containerPath(l.dovecotBaseDir), '0755', 'root:root'], ...clamavRunDirs(s), ...milterRunDirs(s, l)],
    dhcp: s.lxc.network === 'veth' && s.lxc.address === null,
  });
  const changed: string[] = [];
  if (writeLxcConfig(s, l)) changed.push(p.config);
  // Rspamd's database and log are on the host's data_path, owned by the container's _rspamd.
  const rspamd = wantedMilter(s) === 'rspamd' ? containerRspamdUser(s) : null;
  if (rspamd) prepareRspamdData(l, rspamd);
  // ClamAV's signatures and logs too, owned by the container's clamav.
  if (s.features.virusScan) {
    const missing = missingPackages(p.rootfs, s.lxc.distribution, s.features);
    if (missing.length) throw new MailError('unsupported', `features.virus_scan needs ClamAV in container '${s.main.container}', which lacks ${missing.join(', ')}: run \`mailctl install\`, which adds them`, 'features.virus_scan');
    prepareClamavData(l, p.rootfs);
  }
  const initPath = join(p.rootfs, CONTAINER_INIT.slice(1));
  if (writeAtomic(initPath, init, { mode: 0o755, uid: 0, gid: 0 })) changed.push(initPath);
  // Without an init system nothing links /etc/mtab, which Dovecot reads to see mount points.
  if (replaceSymlink('../proc/self/mounts', join(p.rootfs, 'etc/mtab'))) changed.push(join(p.rootfs, 'etc/mtab'));
  // Sharing the router's network, the container asks the router's resolver (as the host does).
  const resolv = readText('/etc/resolv.conf');
  if (s.lxc.network === 'host' && resolv !== null) {
    const path = join(p.rootfs, 'etc/resolv.conf');
    if (writeAtomic(path, resolv, { mode: 0o644 })) changed.push(path);
  }
  return changed;
}

/** Remove the container (its rootfs and LXC config); data_path stays unless purged by the caller. */
export function destroyContainer(s: Settings): boolean {
  const p = containerPaths(s);
  if (!exists(p.dir)) return false;
  assertOurContainer(s);
  stopContainer(s);
  removeTree(p.dir);
  return true;
}
