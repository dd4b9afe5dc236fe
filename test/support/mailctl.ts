// Drive the built mailctl the way a person or script does: argv, stdin, exit code.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { insideTestNetns } from './sandbox.ts';
import { fileURLToPath } from 'node:url';

export const MAILCTL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'rpcd', 'mailctl');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function mailctl(root: string, args: string[], input = ''): CliResult {
  const r = spawnSync(MAILCTL, args, { env: { ...process.env, MAILSERVER_ROOT: root }, input, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function mailctlAsync(root: string, args: string[], input = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(MAILCTL, args, { env: { ...process.env, MAILSERVER_ROOT: root } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** mailctl SIGKILLed `delayMs` after it started; true when it was killed before it ended. */
export function mailctlKilledAfter(root: string, args: string[], input: string, delayMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(MAILCTL, args, { env: { ...process.env, MAILSERVER_ROOT: root }, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

/** mailctl whose result must be success; returns parsed --json output when asked. */
export function ok(root: string, args: string[], input = ''): CliResult {
  const r = mailctl(root, args, input);
  if (r.code !== 0) throw new Error(`mailctl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

export interface TestConfig {
  domain?: string;
  extraDomains?: string[];
  postmaster?: string;
  ports?: Partial<Record<'smtp' | 'submission' | 'smtps' | 'imap' | 'imaps' | 'pop3' | 'pop3s' | 'sieve', number>>;
  quota?: boolean;
  /** features.spam_filter / features.dkim; off unless asked, so foundation tests need no Rspamd. */
  spamFilter?: boolean;
  dkim?: boolean;
  extra?: string;
  /** main.worker_idle (default: TEST_WORKER_IDLE, else 0 = no warm worker). */
  workerIdle?: number;
  /** main.runtime (default host); lxc puts the container under the sandbox's /srv/lxc. */
  runtime?: 'host' | 'lxc';
}

/**
 * main.worker_idle: the warm plugin worker is off in tests unless a file asks for it, or
 * test/run.mjs runs a file in its worker-on variant (TEST_WORKER_IDLE).
 */
function workerIdleForTests(): number {
  return Number(process.env.TEST_WORKER_IDLE ?? 0);
}

/** A UCI file for the host runtime (or lxc, sharing the network) on 127.0.0.1, written the way `uci` writes. */
export function writeConfig(root: string, c: TestConfig = {}): void {
  const ports = { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993, pop3: 110, pop3s: 995, sieve: 4190, ...c.ports };
  mkdirSync(join(root, 'etc', 'config'), { recursive: true });
  writeFileSync(
    join(root, 'etc', 'config', 'mailserver'),
    `
config mailserver 'main'
\toption enabled '1'
\toption hostname 'mail'
\toption domain '${c.domain ?? 'example.com'}'
\toption postmaster '${c.postmaster ?? 'postmaster'}'
\toption data_path '/srv/mailserver'
\toption runtime '${c.runtime ?? 'host'}'
\tlist listen '127.0.0.1'
\toption worker_idle '${c.workerIdle ?? workerIdleForTests()}'
${(c.extraDomains ?? []).map((d) => `\tlist extra_domain '${d}'`).join('\n')}

config ports 'ports'
${Object.entries(ports).map(([k, v]) => `\toption ${k} '${v}'`).join('\n')}

config features 'features'
\toption quota '${c.quota === false ? 0 : 1}'
\toption quota_default '0'
\toption spam_filter '${c.spamFilter ? 1 : 0}'
\toption dkim '${c.dkim ? 1 : 0}'
${insideTestNetns() ? '' : OFFLINE_DNS}${c.runtime === 'lxc' ? LXC_SECTION : ''}${c.extra ?? ''}
`,
  );
}

/** The container shares the test's network namespace; its rootfs comes from `install --rootfs`. */
const LXC_SECTION = `
config lxc 'lxc'
\toption path '/srv/lxc'
\toption network 'host'
`;

/**
 * Outside the test network namespace the system resolver is this machine's, which nothing a
 * test does may ask: DNS lookups (dns_check, dns_records' checks) go to a closed local port.
 */
const OFFLINE_DNS = `
config dns 'dns'
\toption resolver '127.0.0.1:9'
\toption server '127.0.0.1:9'
`;
