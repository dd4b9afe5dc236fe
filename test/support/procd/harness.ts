// The procd double as a system test drives it: started beside a sandbox root, asked with
// `ubus call service ...`, the package's init script run as a person types it, and the
// processes of the test's PID namespace (netns.sh), where every daemon is the test's own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { eventually, runMailClient, waitForSubject } from '../sandbox.ts';
import { MAILCTL } from '../mailctl.ts';
import { setUci } from '../dns.ts';

const DOUBLE = dirname(fileURLToPath(import.meta.url));
const REPO = join(DOUBLE, '..', '..', '..');

/** The package's own configuration (files/etc/config/mailserver) in the sandbox, as a router that enabled the service has it. */
export function routerConfig(root: string, options: Record<string, string> = {}): void {
  mkdirSync(join(root, 'etc/config'), { recursive: true });
  copyFileSync(join(REPO, 'files/etc/config/mailserver'), join(root, 'etc/config/mailserver'));
  for (const [name, value] of Object.entries({ 'main.enabled': '1', 'main.worker_idle': '0', ...options })) {
    const [section, option] = name.split('.') as [string, string];
    setUci(root, section, option, value);
  }
}

export interface InstanceState {
  running: boolean;
  pid?: number;
  command: string[];
  term_timeout: number;
  respawn?: { threshold: number; timeout: number; retry: number };
}

export interface ProcdDouble {
  /** The double's directory: its socket, its log (procd.log). */
  work: string;
  start(): Promise<void>;
  /** procd at shutdown: SIGTERM to every instance, SIGKILL after term_timeout; then it exits. */
  shutdown(): Promise<void>;
  ubus(method: string, args: object): string;
  /** The mailserver service's instances, in declaration order. */
  instances(): Record<string, InstanceState>;
  /** `/etc/init.d/mailserver ACTION` as a person types it. */
  initd(action: string, timeoutMs?: number): { code: number | null; output: string };
  /** mailctl as rpcd runs it: umask 077. */
  mailctlUmask077(args: string[]): { code: number | null; stdout: string; stderr: string };
  /** Triggered reloads that have run to their end (the double logs each). */
  reloadsDone(): number;
}

export function procdDouble(root: string): ProcdDouble {
  const work = join(root, 'procd-double');
  const env = () => ({ ...process.env, MAILSERVER_ROOT: root, PROCD_DOUBLE_SOCKET: join(work, 'ubus.sock') });
  let procd: ChildProcess | null = null;
  const ubus = (method: string, args: object) => {
    const r = spawnSync(join(DOUBLE, 'ubus.mjs'), ['call', 'service', method, JSON.stringify(args)], { env: env(), encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, `ubus call service ${method}: ${r.stderr}`);
    return r.stdout;
  };
  return {
    work,
    async start() {
      mkdirSync(work, { recursive: true });
      procd = spawn('bash', [join(DOUBLE, 'start.sh'), work, root], { stdio: ['ignore', 'inherit', 'inherit'] });
      assert.ok(await eventually(async () => existsSync(join(work, 'ubus.sock')), 60_000), 'procd double up');
    },
    async shutdown() {
      if (!procd || procd.exitCode !== null) return;
      const exited = new Promise((resolve) => procd!.once('exit', resolve));
      procd.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000))]);
    },
    ubus,
    instances() {
      const out = ubus('list', { name: 'mailserver' }).trim();
      if (!out) return {};
      return (JSON.parse(out) as Record<string, { instances: Record<string, InstanceState> }>).mailserver?.instances ?? {};
    },
    initd(action, timeoutMs = 180_000) {
      const r = spawnSync(join(root, 'etc/init.d/mailserver'), [action], { env: env(), encoding: 'utf8', timeout: timeoutMs });
      return { code: r.status, output: `${r.stdout}${r.stderr}${r.error ? ` (${r.error.message})` : ''}` };
    },
    mailctlUmask077(args) {
      const r = spawnSync('/bin/sh', ['-c', 'umask 077; exec "$0" "$@"', MAILCTL, ...args], { env: env(), encoding: 'utf8', timeout: 300_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    reloadsDone() {
      return (readFileSync(join(work, 'procd.log'), 'utf8').match(/trigger: \/etc\/init.d\/mailserver reload exited/g) ?? []).length;
    },
  };
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
}

/** Processes of this test's PID namespace (netns.sh): every daemon here is the test's. */
export function processes(): ProcessInfo[] {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.push({ pid: Number(name), ppid, comm, cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** pid descends from ancestor. */
export function descendsFrom(pid: number, ancestor: number): boolean {
  const byPid = new Map(processes().map((p) => [p.pid, p]));
  for (let p = byPid.get(pid); p; p = byPid.get(p.ppid)) if (p.pid === ancestor) return true;
  return false;
}

/** Processes that hold procd.sh's lock file open (/run/lock/procd_mailserver.lock in the double's namespace). */
export function lockHolders(): number[] {
  const holders: number[] = [];
  for (const p of processes()) {
    try {
      for (const fd of readdirSync(`/proc/${p.pid}/fd`)) {
        if (readlinkSync(`/proc/${p.pid}/fd/${fd}`).endsWith('/procd_mailserver.lock')) holders.push(p.pid);
      }
    } catch {
      // ended meanwhile
    }
  }
  return holders;
}

/**
 * A message from outside to `to`, sent like any MTA sends: a 4xx (mail held while a milter
 * loads, or the daemons coming back under procd) is retried; then it must arrive by IMAP.
 */
export async function sendAndReceive(to: { user: string; password: string }, subject: string): Promise<void> {
  const accepted = await eventually(async () => {
    const r = await runMailClient({ action: 'send', host: '127.0.0.1', port: 25, tls: 'none', from: 'carol@example.net', to: [to.user], subject, body: 'over procd\r\n' });
    return r.ok;
  }, 600_000, 3000);
  assert.ok(accepted, `${subject}: accepted`);
  assert.ok(await waitForSubject(to.user, to.password, subject, 120_000), `${subject}: delivered`);
}
