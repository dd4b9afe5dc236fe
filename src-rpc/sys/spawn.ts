// Running programs: always an argv array, never a shell string. Secrets travel on stdin.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, readlinkSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { procStat } from './proc.ts';
import { constants as osConstants } from 'node:os';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

export function run(argv: readonly string[], opts: RunOptions = {}): RunResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  const r = spawnSync(cmd, args, {
    input: opts.input ?? '',
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    timeout: opts.timeoutMs ?? 60_000,
    cwd: opts.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { code: 127, stdout: '', stderr: `${cmd}: command not found` };
    return { code: 1, stdout: r.stdout ?? '', stderr: `${cmd}: ${r.error.message}` };
  }
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Asynchronous variant for long programs whose output streams to a log. */
export function runAsync(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error('run: empty argv'));
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: `${cmd}: ${e.message}` }));
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? 128, stdout, stderr });
    });
    // A child that exits without reading its input closes the pipe: EPIPE then is not our error (its exit code says what happened).
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Start a program that forks a daemon. Its stdio goes to /dev/null or a log file so no
 * daemon ever holds our stdout/stderr open (rpcd waits for EOF on both before replying).
 */
// The default limit: Rspamd compiles its rules before it forks, 15-40 s, minutes on a busy 2-core router.
export function runDetached(argv: readonly string[], logFile?: string, env?: Record<string, string>, timeoutMs = 180_000): RunResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  const out = logFile ? openSync(logFile, 'a', 0o640) : 'ignore';
  try {
    const r = spawnSync(cmd, args, {
      stdio: ['ignore', out, out],
      env: env ? { ...process.env, ...env } : process.env,
      timeout: timeoutMs,
    });
    if (r.error) return { code: 127, stdout: '', stderr: `${cmd}: ${r.error.message}` };
    return { code: r.status ?? 128, stdout: '', stderr: '' };
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

/**
 * Start a long-lived helper of ours in its own session, output appended to logFile, and return
 * its pid at once. Its stdio never is ours: rpcd answers a call only when our stdout closes.
 * errorsOnly: stdout is dropped (a daemon in the foreground that echoes its own log there).
 */
export function spawnBackground(argv: readonly string[], logFile: string, { errorsOnly = false } = {}): number {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('spawnBackground: empty argv');
  const out = openSync(logFile, 'a', 0o640);
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', errorsOnly ? 'ignore' : out, out] });
    child.unref();
    if (!child.pid) throw new Error(`${cmd} did not start`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Block for a moment (waiting for a daemon that forks to write its pid file). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The program a live process runs (file name behind /proc/PID/exe), or null when there is none. */
export function processExecutable(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    // After a package upgrade the old binary shows as "/usr/sbin/dovecot (deleted)".
    return basename(readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''));
  } catch {
    return null; // no such process, a zombie, or a kernel thread
  }
}

/** A process's parent (0 when it is gone). */
export function parentPid(pid: number): number {
  return Number(procStat(pid)?.[1] ?? 0);
}

/** Paths a process has open (its /proc fd links); none when it is gone or not ours to look at. */
export function processOpenFiles(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/** Pids of the running processes (from /proc). */
export function processIds(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

export interface PidFileProcess {
  /** The daemon's pid: the file names a live process running `executable`. */
  pid: number | null;
  /** Why not: the file names a live process that is something else (a pid reused after a crash or reboot). */
  foreign: { pid: number; executable: string } | null;
}

/**
 * Whether the process a pid file names is the daemon: a pid only says a process exists, and
 * pids are reused (pid files under data_path outlive a reboot), so check what it runs.
 */
export function pidFileProcess(file: string, executable: string): PidFileProcess {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { pid: null, foreign: null };
  }
  const pid = Number(text.trim());
  const running = processExecutable(pid);
  if (running === null) return { pid: null, foreign: null };
  return running === executable ? { pid, foreign: null } : { pid: null, foreign: { pid, executable: running } };
}

/**
 * Processes left in the session of a daemon master that died (its workers, which may hold its
 * ports for long): they run a program whose path contains `family`. A daemon's master calls
 * setsid(), so its pid is its workers' session id.
 */
export function orphanedWorkers(deadMaster: number, family: string): number[] {
  if (processExecutable(deadMaster) !== null) return [];
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const session = Number(procStat(Number(name))?.[3]);
      if (session === deadMaster && readlinkSync(`/proc/${name}/exe`).includes(family)) out.push(Number(name));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return out;
}

/** End the workers a dead master left behind (see orphanedWorkers) and wait until they are gone. */
export function endOrphanedWorkers(pidFile: string, family: string): void {
  const master = pidInFile(pidFile);
  if (master === null) return;
  const orphans = orphanedWorkers(master, family);
  for (const pid of orphans) signal(pid, 'SIGKILL');
  for (let i = 0; i < 50 && orphans.some((pid) => processExecutable(pid) !== null); i++) sleepSync(100);
}

/** The pid a pid file holds, whatever runs under it now (null when there is none). */
export function pidInFile(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Remove a pid file that names another program, before starting the daemon (Dovecot would refuse: "already running"). */
export function forgetForeignPidFile(file: string, executable: string): void {
  if (pidFileProcess(file, executable).foreign) rmSync(file, { force: true });
}

/** Signal a pid; callers pass only pids pidFileProcess confirmed as ours. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * The process blocks or catches `sig` (Linux /proc: SigBlk, SigCgt), so sending it is safe. A
 * daemon that reloads on a signal whose default action ends the process (SIGUSR1) installs its
 * handler only after its start-up: until then, the signal would kill it.
 */
export function handlesSignal(pid: number, sig: NodeJS.Signals): boolean {
  const bit = 1n << BigInt(osConstants.signals[sig] - 1);
  const status = readStatus(pid);
  return ['SigBlk', 'SigCgt'].some((key) => {
    const m = new RegExp(`^${key}:\\s*([0-9a-f]+)$`, 'm').exec(status);
    return m !== null && (BigInt(`0x${m[1]}`) & bit) !== 0n;
  });
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

/** A long-lived program in its own session, stdio on /dev/null: nobody's pipes are held open. */
export function startInBackground(argv: readonly string[], extraEnv: Record<string, string> = {}): void {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  spawn(cmd, args, { detached: true, stdio: 'ignore', env: { ...process.env, ...extraEnv } }).unref();
}

/**
 * Processes that share the pid namespace of `pid` (a container's init), with the program each
 * runs: how the host sees the daemons of a container without asking inside.
 */
export function processesInNamespaceOf(pid: number): { pid: number; executable: string }[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  const out: { pid: number; executable: string }[] = [];
  for (const p of processIds()) {
    try {
      if (readlinkSync(`/proc/${p}/ns/pid`) !== ns) continue;
    } catch {
      continue; // gone meanwhile
    }
    const executable = processExecutable(p);
    if (executable !== null) out.push({ pid: p, executable });
  }
  return out;
}
