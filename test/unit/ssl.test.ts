// TLS certificate pieces without daemons: the ssl.* options, the pair check, the atomic
// installation into generations, name coverage.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, lstatSync, readlinkSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { settingsOfFile } from '../../src-rpc/config/load.ts';
import { checkPair, covers, CertificateProblem, generatePrivateKey, privateKeyType } from '../../src-rpc/sys/x509.ts';
import { installCertificate, servedCertificate, sourceNote } from '../../src-rpc/ssl/files.ts';
import type { Layout } from '../../src-rpc/core/layout.ts';

const dir = mkdtempSync('/tmp/ssl-unit-');
test.after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

let n = 0;
/** A self-signed (or CA-signed) certificate for `cn`; returns PEM texts. */
function makeCert(cn: string, opts: { days?: number; ca?: { cert: string; key: string }; isCa?: boolean; key?: string } = {}): { cert: string; key: string } {
  const base = join(dir, `c${++n}`);
  const keyFile = `${base}.key`;
  writeFileSync(keyFile, opts.key ?? generatePrivateKey('ec256'));
  const ext = opts.isCa ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' : `subjectAltName=DNS:${cn}\n`;
  writeFileSync(`${base}.ext`, ext);
  if (opts.ca) {
    writeFileSync(`${base}.ca.pem`, opts.ca.cert);
    writeFileSync(`${base}.ca.key`, opts.ca.key);
    openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${cn}`, '-out', `${base}.csr`]);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', `${base}.ca.pem`, '-CAkey', `${base}.ca.key`, '-CAcreateserial', '-days', String(opts.days ?? 30), '-extfile', `${base}.ext`, '-out', `${base}.pem`]);
  } else {
    openssl(['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${cn}`, '-days', String(opts.days ?? 30), '-addext', ext.trim().split('\n')[0]!, ...(opts.isCa ? ['-addext', 'keyUsage=critical,keyCertSign,cRLSign'] : []), '-out', `${base}.pem`]);
  }
  return { cert: readFileSync(`${base}.pem`, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

// ---- options ----

const ssl = (text: string) => settingsOfFile(`config mailserver 'main'\n\toption domain 'example.org'\nconfig ssl 'ssl'\n${text}`).ssl;
const refused = (text: string, field: string) => {
  try {
    ssl(text);
  } catch (e) {
    assert.is((e as { field?: string }).field, field, String(e));
    return;
  }
  assert.unreachable(`accepted: ${text}`);
};

test('ssl options: defaults are LE production, postmaster@domain, ec256, 30 days', () => {
  const s = ssl('');
  assert.is(s.acmeDirectory, 'https://acme-v02.api.letsencrypt.org/directory');
  assert.is(s.acmeEmail, 'postmaster@example.org');
  assert.is(s.keyType, 'ec256');
  assert.is(s.renewDays, 30);
  assert.equal(s.extraNames, []);
});

test('ssl options: staging, any https URL, rsa keys, extra names', () => {
  assert.is(ssl("\toption acme_directory 'staging'\n").acmeDirectory, 'https://acme-staging-v02.api.letsencrypt.org/directory');
  assert.is(ssl("\toption acme_directory 'https://127.0.0.1:14000/dir'\n").acmeDirectory, 'https://127.0.0.1:14000/dir');
  assert.is(ssl("\toption key_type 'rsa4096'\n").keyType, 'rsa4096');
  assert.equal(ssl("\tlist extra_name 'imap.example.org'\n\tlist extra_name 'smtp.example.org'\n").extraNames, ['imap.example.org', 'smtp.example.org']);
});

test('ssl options: bad values are refused with their UCI name', () => {
  refused("\toption acme_directory 'http://ca.example/dir'\n", 'ssl.acme_directory');
  refused("\toption acme_directory 'https://user:pw@ca.example/dir'\n", 'ssl.acme_directory');
  refused("\toption acme_directory 'not a url'\n", 'ssl.acme_directory');
  refused("\toption key_type 'dsa'\n", 'ssl.key_type');
  refused("\toption renew_days '0'\n", 'ssl.renew_days');
  refused("\toption renew_days '90'\n", 'ssl.renew_days');
  refused("\toption acme_email 'postmaster'\n", 'ssl.acme_email');
  refused("\tlist extra_name 'bad name'\n", 'ssl.extra_name');
});

// ---- the pair check ----

test('a matching pair passes and is described', () => {
  const { cert, key } = makeCert('mail.example.org');
  const { leaf, chain } = checkPair(cert, key);
  assert.equal(leaf.names, ['mail.example.org']);
  assert.is(leaf.keyType, 'ec256');
  assert.is(leaf.selfSigned, true);
  assert.is(chain.length, 0);
  assert.match(leaf.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('a key of another certificate, an encrypted key, no certificate: refused with the reason', () => {
  const a = makeCert('mail.example.org');
  const b = makeCert('mail.example.org');
  assert.throws(() => checkPair(a.cert, b.key), (e: Error) => e instanceof CertificateProblem && /does not match/.test(e.message));
  const enc = join(dir, 'enc.key');
  openssl(['pkey', '-in', join(dir, 'c1.key'), '-aes256', '-passout', 'pass:secret', '-out', enc]);
  assert.throws(() => checkPair(a.cert, readFileSync(enc, 'utf8')), /encrypted/);
  assert.throws(() => checkPair('nothing', a.key), /no PEM certificate/);
});

test('a chain must run leaf → issuer; an expired certificate is refused', () => {
  const ca = makeCert('Test CA', { isCa: true, days: 60 });
  const leaf = makeCert('mail.example.org', { ca });
  const good = checkPair(leaf.cert + ca.cert, leaf.key);
  assert.is(good.chain.length, 1);
  assert.is(good.leaf.selfSigned, false);
  assert.throws(() => checkPair(ca.cert + leaf.cert, leaf.key), /does not match|out of order/);
  const other = makeCert('Other CA', { isCa: true });
  assert.throws(() => checkPair(leaf.cert + other.cert, leaf.key), /out of order/);
  assert.throws(() => checkPair(leaf.cert, leaf.key, Date.now() + 31 * 86_400_000), /expired/);
});

test('keys of every ssl.key_type are made and recognised', () => {
  for (const k of ['ec256', 'ec384', 'rsa2048'] as const) assert.is(privateKeyType(generatePrivateKey(k)), k);
});

test('names: exact and one-label wildcards', () => {
  assert.ok(covers(['mail.example.org'], 'MAIL.example.org'));
  assert.ok(covers(['*.example.org'], 'mail.example.org'));
  assert.not.ok(covers(['*.example.org'], 'a.mail.example.org'));
  assert.not.ok(covers(['*.example.org'], 'example.org'));
  assert.not.ok(covers(['example.org'], 'mail.example.org'));
});

// ---- installation ----

test('installation: plain files become a generation, then one link switches the pair', () => {
  const sslDir = join(dir, 'ssl');
  const l = { sslDir } as Layout;
  const first = makeCert('mail.example.org');
  spawnSync('mkdir', ['-p', sslDir]);
  writeFileSync(join(sslDir, 'fullchain.pem'), first.cert);
  writeFileSync(join(sslDir, 'privkey.pem'), first.key, { mode: 0o600 });

  const second = makeCert('mail.example.org');
  const r = installCertificate(l, second.cert, second.key, { source: 'manual' });
  assert.is(r.changed, true);
  assert.ok(lstatSync(join(sslDir, 'fullchain.pem')).isSymbolicLink());
  assert.is(readlinkSync(join(sslDir, 'fullchain.pem')), 'live/fullchain.pem');
  assert.is(readlinkSync(join(sslDir, 'privkey.pem')), 'live/privkey.pem');
  assert.is(readFileSync(join(sslDir, 'fullchain.pem'), 'utf8'), second.cert);
  assert.is(readFileSync(join(sslDir, 'privkey.pem'), 'utf8'), second.key);
  assert.is(statSync(join(sslDir, 'privkey.pem')).mode & 0o777, 0o600);
  assert.is(sourceNote(l)?.source, 'manual');
  assert.is(readdirSync(join(sslDir, 'gen')).length, 2, 'the adopted first pair is kept as the previous generation');

  // The same pair again changes nothing.
  assert.is(installCertificate(l, second.cert, second.key, { source: 'manual' }).changed, false);

  // A third and fourth: only the live generation and the one before it stay.
  const third = makeCert('mail.example.org');
  installCertificate(l, third.cert, third.key, { source: 'letsencrypt', directory: 'https://ca.example/dir' });
  const fourth = makeCert('mail.example.org');
  installCertificate(l, fourth.cert, fourth.key, { source: 'selfsigned' });
  const gens = readdirSync(join(sslDir, 'gen'));
  assert.is(gens.length, 2);
  assert.ok(gens.includes(readlinkSync(join(sslDir, 'live')).replace('gen/', '')));
  assert.is(servedCertificate(l)?.fingerprint256, checkPair(fourth.cert, fourth.key).leaf.fingerprint256);
  assert.not.ok(readdirSync(sslDir).some((f) => f.startsWith('.tmp-')), 'no temp file left');
});

test('installation: a pair that cannot serve changes nothing', () => {
  const sslDir = join(dir, 'ssl2');
  const l = { sslDir } as Layout;
  const good = makeCert('mail.example.org');
  installCertificate(l, good.cert, good.key, { source: 'manual' });
  const before = servedCertificate(l)!.fingerprint256;
  const other = makeCert('mail.example.org');
  assert.throws(() => installCertificate(l, other.cert, good.key, { source: 'manual' }), /does not match/);
  assert.is(servedCertificate(l)!.fingerprint256, before);
  assert.is(readFileSync(join(sslDir, 'privkey.pem'), 'utf8'), good.key);
  assert.is(readdirSync(join(sslDir, 'gen')).length, 1);
  assert.not.ok(existsSync(join(sslDir, 'gen', 'x')));
});

test.run();
