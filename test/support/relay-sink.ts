// A loopback SMTP sink standing in for an outbound relay (smarthost) in tests.
// It insists on what a real submission relay insists on: STARTTLS before AUTH
// (AUTH is advertised in the plaintext EHLO but answered 538 there), AUTH (PLAIN or
// LOGIN) before MAIL (530), and it keeps every accepted message.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAuthentication, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';

export interface SinkMessage {
  /** Envelope sender ('' for the null sender). */
  from: string;
  /** Envelope recipients. */
  to: string[];
  /** The message as received (CRLF line ends). */
  raw: string;
  /** The user that authenticated the session. */
  authUser: string;
  /** TLS was active for the transaction (always true given the rules above). */
  secure: boolean;
  remoteAddress: string;
}

export interface RelaySinkOptions {
  /** 0 picks a free port (read it back from `port`). */
  port: number;
  host?: string;
  user: string;
  password: string;
  /** Server certificate; a throwaway self-signed one is made when omitted. */
  certPem?: string;
  keyPem?: string;
  /** Name in the banner and EHLO reply. */
  name?: string;
}

export interface RelaySink {
  /** Accepted messages, in arrival order. */
  messages: SinkMessage[];
  /** Rejected AUTH attempts (wrong credentials or no TLS yet). */
  authFailures: Array<{ user: string; reason: string }>;
  port: number;
  host: string;
  /** Resolve when at least `count` messages arrived; reject after timeoutMs. */
  waitForMessages(count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

export async function startRelaySink(options: RelaySinkOptions): Promise<RelaySink> {
  const host = options.host ?? '127.0.0.1';
  const pair = options.certPem && options.keyPem
    ? { certPem: options.certPem, keyPem: options.keyPem }
    : selfSignedCert(options.name ?? 'relay.example.net');
  const messages: SinkMessage[] = [];
  const authFailures: RelaySink['authFailures'] = [];
  const waiters = new Set<() => void>();

  const server = new SMTPServer({
    name: options.name ?? 'relay.example.net',
    key: pair.keyPem,
    cert: pair.certPem,
    secure: false,
    hideSTARTTLS: false,
    allowInsecureAuth: false,
    authOptional: false,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    closeTimeout: 500,
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, callback) {
      const user = auth.username ?? '';
      if (!session.secure) {
        // smtp-server itself answers 538 before this; kept as a second line of defence.
        authFailures.push({ user, reason: 'no TLS' });
        return callback(new Error('Must issue a STARTTLS command first'));
      }
      if (user !== options.user || auth.password !== options.password) {
        authFailures.push({ user, reason: 'bad credentials' });
        const err = new Error('Authentication failed') as Error & { responseCode?: number };
        err.responseCode = 535;
        return callback(err);
      }
      callback(null, { user });
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err: Error) => callback(err));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        messages.push({
          from: mailFrom ? mailFrom.address : '',
          to: rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          authUser: String(session.user ?? ''),
          secure: session.secure,
          remoteAddress: session.remoteAddress,
        });
        for (const wake of waiters) wake();
        callback(null);
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // Errors after startup (a client resetting the connection) must not crash the test.
  server.on('error', () => {});
  const port = (server.server.address() as AddressInfo).port;

  return {
    messages,
    authFailures,
    port,
    host,
    waitForMessages(count, timeoutMs = 30_000) {
      if (messages.length >= count) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const wake = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`relay sink: ${messages.length} of ${count} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(wake);
      });
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A throwaway self-signed certificate (EC P-256, 2 days) for `commonName`, with
 * subjectAltName DNS:commonName, DNS:localhost and IP:127.0.0.1 plus `altNames`
 * ("DNS:x" / "IP:y" entries).
 */
export function selfSignedCert(commonName: string, altNames: string[] = []): { certPem: string; keyPem: string } {
  const dir = mkdtempSync('/tmp/relay-sink-cert-');
  try {
    const san = [`DNS:${commonName}`, 'DNS:localhost', 'IP:127.0.0.1', ...altNames].join(',');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '2', '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${san}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    return {
      certPem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A certificate for `name` (subjectAltName DNS:name) signed by a test CA (pebble.ts's
 * makeTestTls): what a real smarthost presents, for a client that trusts that CA.
 */
export function caSignedCert(ca: { dir: string; caFile: string; caKey: string }, name: string): { certPem: string; keyPem: string } {
  const base = join(ca.dir, name);
  writeFileSync(`${base}.ext`, `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\n`);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${base}.key`, '-out', `${base}.csr`]);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.caFile, '-CAkey', ca.caKey, '-CAcreateserial', '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.pem`]);
  return { certPem: readFileSync(`${base}.pem`, 'utf8'), keyPem: readFileSync(`${base}.key`, 'utf8') };
}
