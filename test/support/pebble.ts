// A real ACME server for the system tests: Debian's Pebble, configured here (Pebble ships no
// config), validating DNS-01 against the test BIND (-dnsserver) or any DNS server a test names.
//
// Pebble serves its ACME API over HTTPS with a certificate made here by a test CA (tlsCa); the
// product trusts it only the standard Node way, NODE_EXTRA_CA_CERTS=tlsCa in mailctl's
// environment. Certificates Pebble issues chain to a root made at Pebble's start, fetched from
// its management port (issuerRoot) to verify what the daemons present.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, openSync, closeSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { waitForPort } from './sandbox.ts';

export interface Pebble {
  /** The ACME directory URL to put in ssl.acme_directory. */
  directory: string;
  /** PEM of the test CA that signed Pebble's HTTPS certificate (for NODE_EXTRA_CA_CERTS). */
  tlsCaFile: string;
  /** Root of the certificates Pebble issues (PEM file), fetched from the management port. */
  issuerRootFile: string;
  /** Pebble's own log (stdout and stderr). */
  logFile: string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** ACME API port; the management port is port + 1000. Default 14000. */
  port?: number;
  /** DNS server Pebble's VA asks (host:port). Default the test BIND, 127.0.0.1:53. */
  dnsServer?: string;
  /** Names Pebble refuses to issue for (rejectedIdentifier). */
  blocklist?: string[];
  /** Lifetime of issued certificates in seconds (Pebble's default is 5 years). */
  validitySeconds?: number;
  /** A directory holding ca.pem/ca.key to reuse (one CA for several servers), else made here. */
  tls?: TestTls;
}

export interface TestTls {
  dir: string;
  caFile: string;
  caKey: string;
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A throwaway CA for the HTTPS of test servers (Pebble's API, a fake CA). */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync('/tmp/pebble-tls-');
  chmodSync(dir, 0o755);
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=mailserver test TLS CA', '-keyout', caKey, '-out', caFile]);
  return { dir, caFile, caKey };
}

/** A server certificate for 127.0.0.1 and localhost signed by the test CA. */
export function serverCertificate(tls: TestTls, name: string): { cert: string; key: string } {
  const key = join(tls.dir, `${name}.key`);
  const csr = join(tls.dir, `${name}.csr`);
  const cert = join(tls.dir, `${name}.pem`);
  const ext = join(tls.dir, `${name}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', tls.caFile, '-CAkey', tls.caKey, '-CAcreateserial', '-days', '30', '-extfile', ext, '-out', cert]);
  return { cert, key };
}

function fetchText(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout fetching ${url}`)));
    req.on('error', reject);
  });
}

export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  const port = opts.port ?? 14000;
  const mgmt = port + 1000;
  const tls = opts.tls ?? makeTestTls();
  const dir = mkdtempSync('/tmp/pebble-');
  const server = serverCertificate(tls, `pebble-${port}`);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmt}`,
      certificate: server.cert,
      privateKey: server.key,
      // HTTP-01 and TLS-ALPN-01 are never used (DNS-01 only): ports nobody listens on.
      httpPort: 5002,
      tlsPort: 5001,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      domainBlocklist: opts.blocklist ?? [],
      ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
    },
  };
  const configFile = join(dir, 'pebble-config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = join(dir, 'pebble.log');
  const log = openSync(logFile, 'a');
  const child: ChildProcess = spawn('pebble', ['-config', configFile, '-dnsserver', opts.dnsServer ?? '127.0.0.1:53'], {
    stdio: ['ignore', log, log],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
  });
  closeSync(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  try {
    await waitForPort('127.0.0.1', port, 15_000);
    await waitForPort('127.0.0.1', mgmt, 15_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`pebble did not start: ${(e as Error).message}\n${readFileSync(logFile, 'utf8')}`);
  }
  const ca = readFileSync(tls.caFile, 'utf8');
  const root = await fetchText(`https://127.0.0.1:${mgmt}/roots/0`, ca);
  if (root.status !== 200 || !root.body.includes('BEGIN CERTIFICATE')) throw new Error(`pebble root: HTTP ${root.status} ${root.body.slice(0, 200)}`);
  const issuerRootFile = join(dir, 'issuer-root.pem');
  writeFileSync(issuerRootFile, root.body);
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    tlsCaFile: tls.caFile,
    issuerRootFile,
    logFile,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
        if (!exited) child.kill('SIGKILL');
      }
      if (process.env.TEST_KEEP_SANDBOX !== '1') {
        rmSync(dir, { recursive: true, force: true });
        if (!opts.tls) rmSync(tls.dir, { recursive: true, force: true });
      }
    },
  };
}
