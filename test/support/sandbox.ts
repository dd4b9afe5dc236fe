// Test sandbox helpers: a throwaway MAILSERVER_ROOT, waiting for a listener, and a
// typed door to the Python mail client (test/support/mail.py).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Sandbox {
  /** Absolute path of the temporary MAILSERVER_ROOT (mode 0755). */
  root: string;
  /** Remove the whole tree (kept when TEST_KEEP_SANDBOX=1, for debugging). */
  cleanup(): void;
}

/**
 * Create a temporary directory under /tmp (not $TMPDIR: it may sit in a path the
 * daemon users cannot reach) to use as MAILSERVER_ROOT. It is 0755 so daemons that
 * drop privileges (postfix, dovecot users) can traverse it. OpenDKIM refuses keys below a
 * world-writable directory such as /tmp: tests that run it pass another `parent` (/run).
 */
export function makeSandbox(prefix = 'mailserver-test-', parent = '/tmp'): Sandbox {
  const root = mkdtempSync(join(parent, prefix));
  chmodSync(root, 0o755);
  let done = false;
  return {
    root,
    cleanup() {
      if (done) return;
      done = true;
      if (process.env.TEST_KEEP_SANDBOX === '1') {
        process.stderr.write(`sandbox kept: ${root}\n`);
        return;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Resolve once a TCP connect to host:port succeeds; reject after timeoutMs. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    const result = await new Promise<true | string>((resolve) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('connect timed out');
      }, Math.max(100, Math.min(1000, deadline - Date.now())));
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(true);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        resolve(err.message);
      });
    });
    if (result === true) return;
    lastError = result;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`waitForPort ${host}:${port}: nothing listening after ${timeoutMs} ms (${lastError})`);
}

/** True inside test/support/netns.sh (private network namespace with the test BIND). */
export function insideTestNetns(): boolean {
  return process.env.TEST_NETNS === '1';
}

// --- mail.py ------------------------------------------------------------------------

export const MAIL_PY = join(dirname(fileURLToPath(import.meta.url)), 'mail.py');

export type MailTls = 'none' | 'starttls' | 'implicit';

interface Endpoint {
  host: string;
  port: number;
  tls: MailTls;
  /** Verify the server certificate (chain and host name) against this CA file. */
  cafile?: string;
  /** Seconds; default 10. */
  timeout?: number;
  /** Source address of the connection; default 127.0.0.2 (see DESIGN "Loopback trusts too much"). */
  source?: string;
}

export interface SendRequest extends Endpoint {
  action: 'send';
  user?: string;
  password?: string;
  from: string;
  to: string[];
  subject?: string;
  body?: string;
  helo?: string;
  /** Extra header lines. */
  headers?: Record<string, string>;
  /** A complete RFC 5322 message sent as-is instead of one built from subject/body. */
  raw?: string;
}
export interface SmtpAuthProbeRequest extends Endpoint {
  action: 'smtp_auth_probe';
  user: string;
  password: string;
  helo?: string;
}
export interface ImapLoginRequest extends Endpoint {
  action: 'imap_login';
  user: string;
  password: string;
}
export interface ImapFetchRequest extends Endpoint {
  action: 'imap_fetch';
  user: string;
  password: string;
  mailbox?: string;
}
export interface Pop3FetchRequest extends Endpoint {
  action: 'pop3_fetch';
  user: string;
  password: string;
}
export type MailRequest = SendRequest | SmtpAuthProbeRequest | ImapLoginRequest | ImapFetchRequest | Pop3FetchRequest;

export interface MailError {
  ok: false;
  error: string;
  /** SMTP reply code (number), IMAP response code ("AUTHENTICATIONFAILED") or null. */
  code: number | string | null;
}
export interface RecipientResult {
  to: string;
  accepted: boolean;
  code: number;
  message: string;
}
export interface SendResult {
  ok: boolean;
  error?: string;
  code?: number | string | null;
  recipients?: RecipientResult[];
  refused?: RecipientResult[];
  data?: { code: number; message: string } | null;
  queue_id?: string | null;
  message_id?: string;
}
export interface AuthPhase {
  /** EHLO advertised AUTH, and which mechanisms. */
  auth_advertised: boolean;
  mechanisms: string[];
  starttls_advertised: boolean;
  /** The AUTH PLAIN attempt (sent even when not advertised). */
  auth: { ok: boolean; code: number | null; message: string };
}
export interface SmtpAuthProbeResult {
  ok: true;
  /** Plaintext phase (null for tls: "implicit"). */
  before_tls: AuthPhase | null;
  /** After STARTTLS or on the implicit TLS port (null for tls: "none" or no STARTTLS). */
  after_tls: AuthPhase | null;
}
export interface FetchedMessage {
  subject: string | null;
  from: string | null;
  to: string | null;
  body: string;
  raw: string;
}
export interface ImapLoginResult {
  ok: true;
  capabilities: string[];
}
export interface FetchResult {
  ok: true;
  messages: FetchedMessage[];
}

type ResultOf<R extends MailRequest> = R extends SendRequest
  ? SendResult
  : R extends SmtpAuthProbeRequest
    ? SmtpAuthProbeResult | MailError
    : R extends ImapLoginRequest
      ? (ImapLoginResult & { capabilities_before_login: string[] }) | (MailError & { capabilities?: string[] })
      : FetchResult | MailError;

/**
 * Run test/support/mail.py with the request as JSON on stdin (passwords never on argv)
 * and return its JSON answer. Rejects only when mail.py itself breaks (bad request,
 * crash); protocol failures come back as `{ ok: false, error, code }`.
 */
export function runMailClient<R extends MailRequest>(request: R): Promise<ResultOf<R>> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', [MAIL_PY], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`mail.py exited ${code}: ${err.trim()}`));
      try {
        resolve(JSON.parse(out) as ResultOf<R>);
      } catch {
        reject(new Error(`mail.py printed no JSON: ${out.trim()} ${err.trim()}`));
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

/** Poll `check` until it holds (true) or `timeoutMs` passes (false); checks at least once. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000, stepMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** LMTP delivery is asynchronous: poll the mailbox over IMAP (STARTTLS) until the subject shows up. */
export function waitForSubject(user: string, password: string, subject: string, timeoutMs = 15_000, host = '127.0.0.1'): Promise<boolean> {
  return eventually(async () => {
    const r = await runMailClient({ action: 'imap_fetch', host, port: 143, tls: 'starttls', user, password });
    return r.ok && r.messages.some((m) => m.subject === subject);
  }, timeoutMs, 250);
}
