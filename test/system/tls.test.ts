// TLS certificates end to end, against real components inside the test network namespace:
// Debian's Pebble (an ACME CA) validating DNS-01 through the test BIND, which the product's
// nsupdate provider updates; real Postfix and Dovecot serving every TLS listener; openssl
// s_client verifying what they present against Pebble's root. The product reaches the CA only
// through ssl.acme_directory and trusts Pebble's HTTPS only through NODE_EXTRA_CA_CERTS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, waitForPort, insideTestNetns } from '../support/sandbox.ts';
import { mailctl, mailctlAsync, ok, writeConfig } from '../support/mailctl.ts';
import { startPebble, makeTestTls, type Pebble } from '../support/pebble.ts';
import { startRateLimitedCa, RATE_LIMIT_DETAIL, type FakeCa } from '../support/fake-acme.ts';

const box = makeSandbox();
const root = box.root;
const DATA = join(root, 'srv/mailserver');
const HOST = 'mail.example.com';
const tls = makeTestTls();
let pebble: Pebble;
let rejecting: Pebble;
let fake: FakeCa;
let challtest: ChildProcess | undefined;

/** Every TLS listener: port and openssl's -starttls protocol (null: TLS at once). */
const LISTENERS: [number, string | null][] = [
  [25, 'smtp'], [587, 'smtp'], [465, null], [143, 'imap'], [993, null], [110, 'pop3'], [995, null], [4190, 'sieve'],
];

interface SslOptions {
  directory?: string;
  type?: string;
  keyType?: string;
  renewDays?: number;
  extraNames?: string[];
  certPath?: string;
  keyPath?: string;
}

/** The UCI file: host runtime on 127.0.0.1, nsupdate into the test BIND, the ssl options given. */
function configure(o: SslOptions = {}): void {
  const opt = (name: string, value: string | number | undefined) => (value === undefined ? '' : `\toption ${name} '${value}'\n`);
  writeConfig(root, {
    extra: `
config ssl 'ssl'
${opt('type', o.type ?? 'letsencrypt')}${opt('acme_directory', o.directory ?? pebble.directory)}${opt('acme_email', 'postmaster@example.com')}${opt('key_type', o.keyType)}${opt('renew_days', o.renewDays)}${opt('cert_path', o.certPath)}${opt('key_path', o.keyPath)}${(o.extraNames ?? []).map((n) => `\tlist extra_name '${n}'\n`).join('')}
config dns 'dns'
\toption provider 'nsupdate'
\toption wait '20'
`,
  });
}

interface Listener {
  name: string;
  port: number;
  tls: string;
  fingerprint256: string | null;
  state: 'match' | 'differs' | 'unreachable';
  error?: string;
}
interface Status {
  type: string;
  names: string[];
  certificate: { subject: string; names: string[]; issuer: string; validFrom: string; validTo: string; daysLeft: number; keyType: string; fingerprint256: string; selfSigned: boolean; source: string | null } | null;
  missingNames: string[];
  renewal: { due: boolean; reason: string };
  listeners: Listener[];
  allMatch: boolean;
}

const status = (): Status => JSON.parse(ok(root, ['ssl-status', '--json']).stdout) as Status;

/** What openssl s_client sees on a listener, verifying the chain against `caFile`. */
function sClient(port: number, starttls: string | null, caFile: string): { verified: boolean; fingerprint: string | null; output: string } {
  const r = spawnSync(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', HOST, '-CAfile', caFile, '-verify_return_error', '-verify_hostname', HOST, ...(starttls ? ['-starttls', starttls] : [])],
    { input: '', encoding: 'utf8', timeout: 15_000 },
  );
  const output = `${r.stdout}\n${r.stderr}`;
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  return { verified: /Verify return code: 0 \(ok\)/.test(r.stdout), fingerprint: pem ? new X509Certificate(pem).fingerprint256 : null, output };
}

function challengeTxt(name = HOST): string {
  return spawnSync('dig', ['+short', '@127.0.0.1', `_acme-challenge.${name}`, 'TXT'], { encoding: 'utf8' }).stdout.trim();
}

function tsigSecret(): string {
  const text = readFileSync(process.env.TEST_TSIG_KEYFILE!, 'utf8');
  return /secret\s+"([^"]+)"/.exec(text)![1]!;
}

function daemonPids(): Record<string, number | null> {
  const s = JSON.parse(ok(root, ['status', '--json']).stdout) as { services: { name: string; pid: number | null }[] };
  return Object.fromEntries(s.services.map((x) => [x.name, x.pid]));
}

function assertAllServe(fingerprint: string, why: string): void {
  const s = status();
  assert.is(s.certificate?.fingerprint256, fingerprint, `${why}: the file`);
  assert.equal(s.listeners.filter((l) => l.state !== 'match'), [], `${why}: every listener serves the file`);
  assert.is(s.allMatch, true);
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  // One TLS CA for every test server's HTTPS; mailctl trusts it the standard Node way.
  process.env.NODE_EXTRA_CA_CERTS = tls.caFile;
  pebble = await startPebble({ tls, blocklist: ['blocked.example.com'], validitySeconds: 60 * 86400 });
  // A second CA whose DNS view (pebble-challtestsrv, empty) never has the challenge record.
  challtest = spawn('pebble-challtestsrv', ['-dns01', '127.0.0.1:8053', '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', '127.0.0.1:8055'], { stdio: 'ignore' });
  await waitForPort('127.0.0.1', 8055, 10_000);
  rejecting = await startPebble({ tls, port: 14001, dnsServer: '127.0.0.1:8053' });
  fake = await startRateLimitedCa(tls, 14002);
  configure();
  ok(root, ['start']);
  for (const [port] of LISTENERS) await waitForPort('127.0.0.1', port, 15_000);
  ok(root, ['dns', 'key-set', process.env.TEST_TSIG_KEYNAME!, '--algorithm', process.env.TEST_TSIG_ALGORITHM!, '--password-stdin'], `${tsigSecret()}\n`);
});

test.after(async () => {
  mailctl(root, ['stop']);
  await fake?.close();
  await pebble?.stop();
  await rejecting?.stop();
  challtest?.kill();
  box.cleanup();
  spawnSync('rm', ['-rf', tls.dir]);
});

let issued = ''; // fingerprint of the certificate the ACME order installed
let accountKey = '';

test('before ssl-setup: the first-start self-signed certificate, presented by every listener', () => {
  const s = status();
  assert.is(s.type, 'letsencrypt');
  assert.is(s.certificate?.selfSigned, true);
  assert.is(s.listeners.length, 8);
  assert.is(s.allMatch, true, JSON.stringify(s.listeners));
  assert.is(s.renewal.due, false, 'the self-signed first-start certificate is not renewed by ACME on its own');
});

test("ssl-setup against Pebble + BIND issues a certificate; every TLS listener presents it, chain verified against Pebble's root", () => {
  const started = Date.now();
  const r = mailctl(root, ['ssl-setup', '--json']);
  const seconds = (Date.now() - started) / 1000;
  assert.is(r.code, 0, r.stderr);
  console.log(`    ssl-setup against Pebble + BIND: ${seconds.toFixed(2)} s`);
  const out = JSON.parse(r.stdout);
  assert.is(out.installed, true);
  assert.match(out.certificate.issuer, /Pebble/);
  assert.equal(out.certificate.names, [HOST]);
  assert.is(out.certificate.keyType, 'ec256');
  assert.equal(out.reloaded.sort(), ['dovecot', 'postfix']);
  assert.not.match(r.stdout + r.stderr, /PRIVATE KEY/);
  issued = out.certificate.fingerprint256;
  for (const [port, starttls] of LISTENERS) {
    const seen = sClient(port, starttls, pebble.issuerRootFile);
    assert.ok(seen.verified, `port ${port}: chain verifies against Pebble's root\n${seen.output.slice(-1500)}`);
    assert.is(seen.fingerprint, issued, `port ${port} presents the new certificate`);
  }
  assert.is(challengeTxt(), '', 'the challenge record is removed');
  // Keys: the certificate's and the account's, 0600; the account key is under secrets/.
  assert.is(statSync(join(DATA, 'ssl/privkey.pem')).mode & 0o777, 0o600);
  const account = join(DATA, 'secrets/acme-account.pem');
  assert.is(statSync(account).mode & 0o777, 0o600);
  accountKey = readFileSync(account, 'utf8');
  assert.not.match(readFileSync(join(root, 'etc/config/mailserver'), 'utf8'), /PRIVATE KEY|acme-account/);
});

test('ssl-status reports subject, names, issuer, validity, days left, key type, fingerprint; every listener matches', () => {
  const s = status();
  const c = s.certificate!;
  assert.match(c.subject, /CN=mail\.example\.com/);
  assert.equal(c.names, [HOST]);
  assert.match(c.issuer, /Pebble/);
  assert.ok(Date.parse(c.validFrom) <= Date.now() && Date.parse(c.validTo) > Date.now());
  assert.ok(c.daysLeft >= 58 && c.daysLeft <= 60, String(c.daysLeft));
  assert.is(c.keyType, 'ec256');
  assert.is(c.fingerprint256, issued);
  assert.is(c.source, 'letsencrypt');
  assert.equal(s.listeners.map((l) => l.port).sort((a, b) => a - b), [25, 110, 143, 465, 587, 993, 995, 4190]);
  assert.equal(s.listeners.filter((l) => l.tls === 'starttls').map((l) => l.port).sort((a, b) => a - b), [25, 110, 143, 587, 4190]);
  assert.is(s.allMatch, true, JSON.stringify(s.listeners));
  const text = ok(root, ['ssl-status']).stdout;
  assert.match(text, /serves the file's certificate/);
  assert.not.match(text, /DIFFERS/);
});

test('replacing the certificate file without a reload makes ssl-status flag every listener', () => {
  // Another certificate for the same key, written over the file (as `cp` would) and not reloaded.
  const other = spawnSync('openssl', ['req', '-x509', '-new', '-key', join(DATA, 'ssl/privkey.pem'), '-subj', `/CN=${HOST}`, '-days', '10', '-addext', `subjectAltName=DNS:${HOST}`], { encoding: 'utf8' });
  assert.is(other.status, 0, other.stderr);
  writeFileSync(join(DATA, 'ssl/fullchain.pem'), other.stdout);
  const s = status();
  assert.is.not(s.certificate!.fingerprint256, issued);
  assert.is(s.allMatch, false);
  assert.is(s.listeners.length, 8);
  for (const l of s.listeners) {
    assert.is(l.state, 'differs', `${l.port}: ${JSON.stringify(l)}`);
    assert.is(l.fingerprint256, issued, `${l.port} still presents the loaded certificate`);
  }
  assert.is((ok(root, ['ssl-status']).stdout.match(/DIFFERS/g) ?? []).length, 8);
});

test('a forced renewal is served after a reload, without a restart; the account key is reused', () => {
  const before = daemonPids();
  const r = mailctl(root, ['ssl-renew', '--force', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.renewed, true);
  const renewed = out.certificate.fingerprint256 as string;
  assert.is.not(renewed, issued);
  assert.equal(out.listeners.filter((l: Listener) => l.state !== 'match'), [], JSON.stringify(out.listeners));
  for (const [port, starttls] of LISTENERS) {
    const seen = sClient(port, starttls, pebble.issuerRootFile);
    assert.ok(seen.verified, `port ${port}\n${seen.output.slice(-800)}`);
    assert.is(seen.fingerprint, renewed, `port ${port} presents the renewed certificate`);
  }
  assert.equal(daemonPids(), before, 'same daemon processes: reloaded, not restarted');
  assert.is(readFileSync(join(DATA, 'secrets/acme-account.pem'), 'utf8'), accountKey, 'the account key is reused');
  issued = renewed;
  assertAllServe(issued, 'after the renewal');
});

test('ssl-renew renews only when fewer than ssl.renew_days remain; mailctl tick calls it', () => {
  const notDue = mailctl(root, ['ssl-renew', '--json']);
  assert.is(notDue.code, 0, notDue.stderr);
  const nd = JSON.parse(notDue.stdout);
  assert.is(nd.renewed, false);
  assert.match(nd.reason, /59 days left; renews when fewer than 30 days remain/);
  assert.is(status().certificate!.fingerprint256, issued);

  configure({ renewDays: 89 }); // Pebble's certificates live 60 days: now due
  assert.is(status().renewal.due, true);
  const tick = JSON.parse(ok(root, ['tick', '--json']).stdout);
  assert.is(tick.certificate.renewed, true, JSON.stringify(tick));
  assert.match(tick.certificate.reason, /fewer than 89 days/);
  const now = status();
  assert.is.not(now.certificate!.fingerprint256, issued);
  issued = now.certificate!.fingerprint256;
  assertAllServe(issued, 'after the renewal by tick');
  configure();
  const quiet = JSON.parse(ok(root, ['tick', '--json']).stdout);
  assert.is(quiet.certificate.renewed, false);
});

test("a rejected order leaves the previous certificate served and reports the CA's reason", () => {
  configure({ extraNames: ['blocked.example.com'] });
  const r = mailctl(root, ['ssl-setup']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /the CA refused the order for mail\.example\.com, blocked\.example\.com: .*blocked/i);
  assert.match(r.stderr, /the previous certificate keeps serving/);
  assertAllServe(issued, 'after the rejected order');
  configure();
});

test("a rejected challenge ends with the CA's message, the TXT record removed, the previous certificate serving", () => {
  configure({ directory: rejecting.directory });
  const r = mailctl(root, ['ssl-setup']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /the CA rejected the DNS-01 challenge for mail\.example\.com: .*TXT/i);
  assert.is(challengeTxt(), '', 'the challenge record is removed');
  assertAllServe(issued, 'after the rejected challenge');
  configure();
});

test("an unreachable CA, a rate limit, a failing DNS provider: the CA's or the provider's message, nothing changes", async () => {
  configure({ directory: 'https://127.0.0.1:14999/dir' });
  let r = mailctl(root, ['ssl-setup']);
  assert.is(r.code, 1);
  assert.ok(/cannot reach the CA at https:\/\/127\.0\.0\.1:14999\/dir: .*ECONNREFUSED/.test(r.stderr), r.stderr);
  // Scheduled (tick): one attempt (another CA directory makes a renewal due), then a pause.
  const t1 = JSON.parse(ok(root, ['tick', '--json']).stdout);
  assert.match(t1.certificate.error, /cannot reach the CA/);
  const t2 = JSON.parse(ok(root, ['tick', '--json']).stdout);
  assert.is(t2.certificate.renewed, false);
  assert.match(t2.certificate.reason, /the last attempt .* failed: cannot reach the CA.*; next attempt after/);

  configure({ directory: fake.directory });
  const started = Date.now();
  r = await mailctlAsync(root, ['ssl-setup']); // the fake CA answers from this process: no spawnSync
  assert.is(r.code, 1);
  assert.ok(r.stderr.includes(RATE_LIMIT_DETAIL), r.stderr);
  assert.ok(Date.now() - started < 120_000, 'a rate limit is reported at once, not slept through (Retry-After is a day)');
  assert.is(fake.orders, 1, 'no silent retry');

  configure();
  ok(root, ['dns', 'key-set', process.env.TEST_TSIG_KEYNAME!, '--algorithm', process.env.TEST_TSIG_ALGORITHM!, '--password-stdin'], `${Buffer.alloc(32, 7).toString('base64')}\n`);
  r = mailctl(root, ['ssl-setup']);
  assert.is(r.code, 1, `ssl-setup with a wrong TSIG key: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /publishing TXT _acme-challenge\.mail\.example\.com failed: nsupdate failed/);
  assert.is(challengeTxt(), '');
  ok(root, ['dns', 'key-set', process.env.TEST_TSIG_KEYNAME!, '--algorithm', process.env.TEST_TSIG_ALGORITHM!, '--password-stdin'], `${tsigSecret()}\n`);
  assertAllServe(issued, 'after the failures');
  assert.not.ok(readdirSync(join(DATA, 'ssl')).some((f) => f.startsWith('.tmp-')), 'no temp file left');
  // An explicit renewal is not held back by the scheduled pause, and ends it.
  const again = JSON.parse(ok(root, ['ssl-renew', '--force', '--json']).stdout);
  assert.is(again.renewed, true);
  issued = again.certificate.fingerprint256;
  assertAllServe(issued, 'after the explicit renewal');
});

test('RSA keys on request, and through the rpcd door ssl_setup is a job', async () => {
  configure({ keyType: 'rsa2048', extraNames: ['smtp.example.com'] });
  const plugin = join(process.cwd(), 'rpcd', 'luci.mailserver');
  const call = spawnSync(plugin, ['call', 'ssl_setup'], { input: '{}', encoding: 'utf8', env: { ...process.env, MAILSERVER_ROOT: root }, timeout: 10_000 });
  const reply = JSON.parse(call.stdout) as { job: string; state: string };
  assert.ok(reply.job, call.stdout + call.stderr);
  let job: { state: string; result: { certificate: { keyType: string; names: string[] } }; error: unknown } | undefined;
  for (let i = 0; i < 120; i++) {
    job = JSON.parse(ok(root, ['job', 'status', reply.job, '--json']).stdout);
    if (job!.state !== 'running') break;
    await new Promise((res) => setTimeout(res, 250));
  }
  assert.is(job!.state, 'done', JSON.stringify(job));
  assert.is(job!.result.certificate.keyType, 'rsa2048');
  assert.equal(job!.result.certificate.names.sort(), [HOST, 'smtp.example.com']);
  assert.is(challengeTxt('smtp.example.com'), '');
  const s = status();
  assert.is(s.certificate!.keyType, 'rsa2048');
  assert.equal(s.missingNames, []);
  assert.is(s.allMatch, true);
  issued = s.certificate!.fingerprint256;
  const seen = sClient(993, null, pebble.issuerRootFile);
  assert.ok(seen.verified && seen.fingerprint === issued, seen.output.slice(-800));
  configure();
});

test('ssl.type manual: a key that does not match its certificate is refused; a matching pair is installed and served', () => {
  const dir = join(root, 'etc/ssl-manual');
  spawnSync('mkdir', ['-p', dir]);
  const mk = (name: string) => spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=DNS:${HOST}`, '-days', '90', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`)]);
  mk('a');
  mk('b');
  configure({ type: 'manual', certPath: '/etc/ssl-manual/a.pem', keyPath: '/etc/ssl-manual/b.key' });
  const bad = mailctl(root, ['ssl-setup']);
  assert.is(bad.code, 1);
  assert.ok(/ssl\.cert_path: .*the private key does not match the certificate.*; the previous certificate keeps serving/.test(bad.stderr), bad.stderr);
  assertAllServe(issued, 'after the refused manual pair');

  configure({ type: 'manual', certPath: '/etc/ssl-manual/a.pem', keyPath: '/etc/ssl-manual/a.key' });
  const good = JSON.parse(ok(root, ['ssl-setup', '--json']).stdout);
  assert.is(good.installed, true);
  assert.is(good.certificate.source, 'manual');
  assertAllServe(new X509Certificate(readFileSync(join(dir, 'a.pem'))).fingerprint256, 'the manual pair');
  // The files change at their place: the next renewal (tick) installs them.
  spawnSync('cp', [join(dir, 'b.pem'), join(dir, 'a.pem')]);
  spawnSync('cp', [join(dir, 'b.key'), join(dir, 'a.key')]);
  const tick = JSON.parse(ok(root, ['tick', '--json']).stdout);
  assert.is(tick.certificate.renewed, true, JSON.stringify(tick));
  assertAllServe(new X509Certificate(readFileSync(join(dir, 'b.pem'))).fingerprint256, 'the changed manual pair');
});

test('ssl.type selfsigned: ssl-setup makes one for the mail host and the extra names; tick leaves it', () => {
  configure({ type: 'selfsigned', extraNames: ['imap.example.com'] });
  const r = JSON.parse(ok(root, ['ssl-setup', '--json']).stdout);
  assert.is(r.certificate.selfSigned, true);
  assert.equal(r.certificate.names, [HOST, 'imap.example.com']);
  assert.is(r.certificate.source, 'selfsigned');
  assert.is(r.certificate.keyType, 'ec256');
  assertAllServe(r.certificate.fingerprint256, 'the self-signed certificate');
  const t = JSON.parse(ok(root, ['tick', '--json']).stdout);
  assert.is(t.certificate.renewed, false, JSON.stringify(t));
});

test.run();
