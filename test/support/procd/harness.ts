// The procd double as a test drives it: started for a sandbox root, asked like `ubus call
// service ...`, its init script run like `/etc/init.d/mailserver ACTION`, and ended as procd
// ends at shutdown (SIGTERM to every instance, SIGKILL after term_timeout).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../sandbox.ts';

const DOUBLE = dirname(fileURLToPath(import.meta.url));

export interface InstanceState {
  running: boolean;
  pid?: number;
  command: string[];
  term_timeout: number;
  respawn?: { threshold: number; timeout: number; retry: number };
}

export class ProcdDouble {
  private process: ChildProcess | null = null;
  readonly work: string;

  constructor(readonly root: string) {
    this.work = join(root, 'procd-double');
  }

  /** What the init script and `ubus` need to reach this double. */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, MAILSERVER_ROOT: this.root, PROCD_DOUBLE_SOCKET: join(this.work, 'ubus.sock') };
  }

  async start(): Promise<void> {
    mkdirSync(this.work, { recursive: true });
    this.process = spawn('bash', [join(DOUBLE, 'start.sh'), this.work, this.root], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (!(await eventually(async () => existsSync(join(this.work, 'ubus.sock')), 60_000))) throw new Error('the procd double did not come up');
  }

  /** `ubus call service METHOD ARGS`: its stdout; a failure throws. */
  ubus(method: string, args: object): string {
    const r = spawnSync(join(DOUBLE, 'ubus.mjs'), ['call', 'service', method, JSON.stringify(args)], { env: this.env(), encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`ubus call service ${method}: ${r.stderr}`);
    return r.stdout;
  }

  instances(): Record<string, InstanceState> {
    const out = this.ubus('list', { name: 'mailserver' }).trim();
    if (!out) return {};
    return (JSON.parse(out) as Record<string, { instances: Record<string, InstanceState> }>).mailserver?.instances ?? {};
  }

  /** `/etc/init.d/mailserver ACTION` as a person types it. */
  initd(action: string, timeoutMs = 180_000): { code: number | null; output: string } {
    const r = spawnSync(join(this.root, 'etc/init.d/mailserver'), [action], { env: this.env(), encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status, output: `${r.stdout}${r.stderr}${r.error ? ` (${r.error.message})` : ''}` };
  }

  /** procd at shutdown; then it exits. */
  async stop(): Promise<void> {
    const p = this.process;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000))]);
  }
}
