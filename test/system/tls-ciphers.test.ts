// TLS on every client listener meets Mozilla's "intermediate" profile. Allowed: TLS 1.2 and
// 1.3, ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (so forward secrecy on every suite);
// nothing anonymous, CBC, CCM, CAMELLIA or ARIA, no finite-field DHE, no RSA key exchange.
// - testssl.sh (Debian's) scans one port of each daemon in full (-p protocols, -e every suite
//   the server accepts): 587 for Postfix (465 shares its master.cf options), 993 for Dovecot
//   (its ssl settings are global). A full scan takes minutes on a loaded machine, so the two run
//   side by side and the other ports are not scanned again. testssl runs with DNS off
//   (--nodns none, --ip) and never phones out (no --phone-out).
// - Every port (465, 143, 110, 995 and ManageSieve 4190, which testssl 3.0 cannot STARTTLS into)
//   is probed with openssl s_client: each old protocol and each forbidden suite class must fail
//   to handshake, an allowed suite must succeed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, waitForPort, insideTestNetns } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox();
const root = box.root;
const H = '127.0.0.1';
const work = mkdtempSync('/tmp/testssl-');

/** Client listeners: port and the STARTTLS protocol (null: TLS at once). */
const PORTS: [number, string | null][] = [[587, 'smtp'], [465, null], [143, 'imap'], [993, null], [110, 'pop3'], [995, null], [4190, 'sieve']];
const SCANNED: [number, string | null][] = [[587, 'smtp'], [993, null]];

/** The only suites allowed (IANA names as testssl prints them). */
const ALLOWED = /^TLS_(ECDHE_(RSA|ECDSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)|AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/;
const FORBIDDEN = /_anon_|NULL|CBC|CCM|CAMELLIA|ARIA|RC4|3DES|EXPORT/;

interface Finding {
  id: string;
  port: string;
  finding: string;
}

/** testssl -p -e against one port; its flat JSON findings. */
function testssl(port: number, starttls: string | null): Promise<Finding[]> {
  const json = join(work, `${port}.json`);
  const args = ['--quiet', '--color', '0', '--warnings', 'off', '--nodns', 'none', '--ip', H, '--connect-timeout', '10', '--openssl-timeout', '10',
    '--jsonfile', json, '-p', '-e', ...(starttls ? ['--starttls', starttls] : []), `${H}:${port}`];
  return new Promise((resolve, reject) => {
    const child = spawn('testssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(readFileSync(json, 'utf8')) as Finding[]);
      } catch {
        reject(new Error(`testssl ${port}: no JSON (${err.trim().slice(-500)})`));
      }
    });
  });
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root);
  ok(root, ['start']);
  for (const [port] of PORTS) await waitForPort(H, port, 15_000);
  await waitForPort(H, 4190, 15_000);
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
  rmSync(work, { recursive: true, force: true });
});

test('testssl: 587 (Postfix) and 993 (Dovecot) offer TLS 1.2/1.3 only, every suite ECDHE (or TLS 1.3) with AES-GCM or ChaCha20', async () => {
  const scans = await Promise.all(SCANNED.map(([port, starttls]) => testssl(port, starttls)));
  SCANNED.forEach(([port], i) => {
    const findings = scans[i]!;
    const get = (id: string) => findings.find((f) => f.id === id)?.finding ?? '(missing)';
    for (const old of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) assert.match(get(old), /^not offered/, `${port} ${old}: ${get(old)}`);
    assert.match(get('TLS1_2'), /^offered/, `${port} TLS1_2`);
    assert.match(get('TLS1_3'), /^offered/, `${port} TLS1_3`);
    const suites = findings.filter((f) => f.id.startsWith('cipher_x') || f.id.startsWith('cipher-')).map((f) => f.finding.trim().split(/\s+/).pop()!);
    assert.ok(suites.length >= 3, `${port}: suites found: ${JSON.stringify(findings.filter((f) => f.id.startsWith('cipher')))}`);
    for (const s of suites) {
      assert.not.match(s, FORBIDDEN, `${port}: ${s}`);
      assert.match(s, ALLOWED, `${port}: ${s}`);
    }
    process.stdout.write(`  testssl ${port}: ${suites.join(' ')}\n`);
  });
});

/** Suite classes no client port may accept (OpenSSL cipher strings for TLS 1.2). */
const FORBIDDEN_TLS12: [string, string][] = [
  ['aNULL', 'aNULL@SECLEVEL=0'],
  ['CBC', 'ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA:AES128-SHA:AES256-SHA256'],
  ['CCM', 'AESCCM:AESCCM8'],
  ['CAMELLIA', 'CAMELLIA'],
  ['ARIA', 'ARIA'],
  ['DHE', 'kDHE'],
  ['RSA key exchange (no forward secrecy)', 'kRSA'],
];

function hello(port: number, starttls: string | null, args: string[]) {
  return spawnSync('openssl', ['s_client', '-connect', `${H}:${port}`, ...(starttls ? ['-starttls', starttls] : []), '-brief', ...args], { input: '', encoding: 'utf8', timeout: 30_000 });
}

test('port 25 keeps opportunistic TLS: it still takes a CBC suite (so the probes below can see one)', () => {
  const r = hello(25, 'smtp', ['-tls1_2', '-cipher', FORBIDDEN_TLS12.find(([what]) => what === 'CBC')![1]]);
  assert.match(r.stderr, /CONNECTION ESTABLISHED/, r.stderr);
});

for (const [port, starttls] of PORTS) {
  test(`port ${port}: openssl finds no TLS below 1.2 and no forbidden suite class; an allowed suite works`, () => {
    const works = hello(port, starttls, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256']);
    assert.match(works.stderr, /CONNECTION ESTABLISHED/, `${port}: ${works.stderr}`);
    for (const proto of ['-tls1', '-tls1_1']) {
      const r = hello(port, starttls, [proto, '-cipher', 'DEFAULT@SECLEVEL=0']);
      assert.not.match(r.stderr, /CONNECTION ESTABLISHED/, `${port} ${proto}: ${r.stderr}`);
    }
    for (const [what, suites] of FORBIDDEN_TLS12) {
      const r = hello(port, starttls, ['-tls1_2', '-cipher', suites]);
      assert.not.match(r.stderr, /CONNECTION ESTABLISHED/, `${port} ${what}: ${r.stderr}`);
    }
    const ccm13 = hello(port, starttls, ['-tls1_3', '-ciphersuites', 'TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256']);
    assert.not.match(ccm13.stderr, /CONNECTION ESTABLISHED/, `${port} TLS 1.3 CCM: ${ccm13.stderr}`);
  });
}

test.run();
