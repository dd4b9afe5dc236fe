// Running programs: always an argv array, never a shell string. Secrets travel on stdin.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

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
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Start a program that forks a daemon. Its stdio goes to /dev/null or a log file so no
 * daemon ever holds our stdout/stderr open (rpcd waits for EOF on both before replying).
 */
export function runDetached(argv: readonly string[], logFile?: string, env?: Record<string, string>): RunResult {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  const out = logFile ? openSync(logFile, 'a', 0o640) : 'ignore';
  try {
    const r = spawnSync(cmd, args, {
      stdio: ['ignore', out, out],
      env: env ? { ...process.env, ...env } : process.env,
      timeout: 60_000,
    });
    if (r.error) return { code: 127, stdout: '', stderr: `${cmd}: ${r.error.message}` };
    return { code: r.status ?? 128, stdout: '', stderr: '' };
  } finally {
    if (typeof out === 'number') closeSync(out);
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

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** A long-lived program in its own session, stdio on /dev/null: nobody's pipes are held open. */
export function startInBackground(argv: readonly string[]): void {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  spawn(cmd, args, { detached: true, stdio: 'ignore' }).unref();
}
