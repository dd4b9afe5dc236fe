// DKIM signing and spam filtering with the real daemons: OpenDKIM (spam_filter=0) and Rspamd
// (spam_filter=1) as Postfix's milter, keys published in the test BIND by nsupdate, signatures
// checked by a real verifier (python3-dkim, resolving through that BIND). Then GTUBE, and a
// key rotation with its grace period.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually } from '../support/sandbox.ts';
import { httpGetUnix } from '../support/unix-socket.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { dig, setUci, signForTestBind } from '../support/dns.ts';
import { verifyDkim as verify, type Signature } from '../support/dkim.ts';

// OpenDKIM refuses keys below a world-writable directory (/tmp): the sandbox lives in /run.
const box = makeSandbox('mailserver-test-', '/run');
const root = box.root;
const H = '127.0.0.1';
const PW = { alice: 'alice-pass-1', bob: 'bob-pass-22' };
const json = (args: string[]) => JSON.parse(ok(root, [...args, '--json']).stdout);
let n = 0;
const RUN = join(root, 'var/run/mailserver');
const RSPAMD_CONTROLLER = join(RUN, 'rspamd/controller.sock');
const OPENDKIM_SOCKET = join(RUN, 'opendkim/opendkim.sock');

async function fetch(user: string, password: string, subject: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user, password });
    const m = r.ok ? r.messages.find((x) => x.subject === subject) : undefined;
    if (m) return m.raw;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`${subject} did not arrive for ${user}`);
}

/** Authenticated on 587 from alice to bob; returns the message as bob's IMAP shows it. */
async function submitted(): Promise<string> {
  const subject = `signed ${++n}`;
  const r = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW.alice, from: 'alice@example.com', to: ['bob@example.com'], subject, body: 'signed body' });
  assert.is(r.ok, true, JSON.stringify(r));
  return fetch('bob@example.com', PW.bob, subject);
}

/**
 * Rspamd counts every loopback address as local (it signs local mail and skips its checks), so
 * outside clients of the Rspamd tests come from 198.18.0.2, an address the test puts on lo.
 */
const OUTSIDE = '198.18.0.2';

/** Unauthenticated on 25 from an outside client; `from` may claim one of our own domains. */
async function inbound(from = 'sender@example.net', source = '127.0.0.2'): Promise<string> {
  const subject = `inbound ${++n}`;
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', source, from, to: ['bob@example.com'], subject, body: 'from outside' });
  assert.is(r.ok, true, JSON.stringify(r));
  return fetch('bob@example.com', PW.bob, subject);
}

async function rspamdReady(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await httpGetUnix(RSPAMD_CONTROLLER, '/ping'))?.includes('pong')) return;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error('rspamd controller did not answer /ping');
}

async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  if (!(await eventually(async () => existsSync(path), timeoutMs, 100))) throw new Error(`${path} did not appear`);
}

function selectors(): Record<string, string> {
  const keys = json(['dkim', 'show', 'example.com']).keys as { selector: string; algorithm: string; state: string }[];
  return Object.fromEntries(keys.filter((k) => k.state === 'active').map((k) => [k.algorithm, k.selector]));
}

function expectSigned(sigs: Signature[], sel: Record<string, string>): void {
  assert.equal(
    sigs.map((x) => `${x.d} ${x.s} ${x.a} ${x.ok}`).sort(),
    [`example.com ${sel.rsa} rsa-sha256 true`, `example.com ${sel.ed25519} ed25519-sha256 true`].sort(),
  );
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  const ip = spawnSync('ip', ['addr', 'add', `${OUTSIDE}/32`, 'dev', 'lo'], { encoding: 'utf8' });
  if (ip.status !== 0) throw new Error(`ip addr add: ${ip.stderr}`);
  writeConfig(root, { dkim: true, spamFilter: false });
  signForTestBind(root);
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  await waitForSocket(OPENDKIM_SOCKET, 15_000);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], `${PW.alice}\n`);
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin'], `${PW.bob}\n`);
  ok(root, ['dns-setup']);
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

test('OpenDKIM: keys are 0600 files of the opendkim user; status shows it; the milter listens on a Unix socket only', () => {
  const keys = json(['dkim', 'show']).keys as { domain: string; selector: string }[];
  assert.is(keys.length, 2);
  const uid = Number(spawnSync('id', ['-u', 'opendkim'], { encoding: 'utf8' }).stdout);
  for (const k of keys) {
    const st = statSync(join(root, 'srv/mailserver/secrets/dkim', k.domain, `${k.selector}.pem`));
    assert.is(st.mode & 0o777, 0o600);
    assert.is(st.uid, uid);
  }
  const s = json(['status']);
  assert.equal(s.services.map((x: { name: string; running: boolean }) => `${x.name} ${x.running}`), ['dovecot true', 'postfix true', 'opendkim true']);
  assert.ok(statSync(OPENDKIM_SOCKET).isSocket());
  const pid = json(['status']).services.find((x: { name: string }) => x.name === 'opendkim').pid as number;
  assert.is(spawnSync('ss', ['-Htlnp'], { encoding: 'utf8' }).stdout.includes(`pid=${pid},`), false, 'OpenDKIM listens on TCP');
});

test('OpenDKIM: authenticated mail on 587 is signed with RSA and Ed25519 and verifies against BIND', async () => {
  expectSigned(verify(await submitted()), selectors());
});

test('OpenDKIM: unauthenticated inbound mail on 25 is not signed, also when it claims our domain', async () => {
  assert.equal(verify(await inbound()), []);
  assert.equal(verify(await inbound('alice@example.com')), []);
});

test('GTUBE on port 25 is accepted while spam filtering is off', async () => {
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: ['bob@example.com'], subject: 'gtube off', body: 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X' });
  assert.is(r.ok, true, JSON.stringify(r));
});

test('Rspamd: spam_filter=1 switches the milter from OpenDKIM to Rspamd (first start compiles for a while)', async () => {
  setUci(root, 'features', 'spam_filter', '1');
  const t0 = Date.now();
  ok(root, ['apply']);
  // Rspamd binds its ports before its first start has compiled its rules: ask the controller.
  await rspamdReady(300_000);
  process.stdout.write(`  rspamd: ready (controller answers /ping) ${((Date.now() - t0) / 1000).toFixed(1)} s after apply\n`);
  const s = json(['status']);
  assert.equal(s.services.map((x: { name: string; running: boolean }) => `${x.name} ${x.running}`), ['dovecot true', 'postfix true', 'rspamd true']);
  const uid = Number(spawnSync('id', ['-u', '_rspamd'], { encoding: 'utf8' }).stdout);
  for (const f of ['mail.pem', 'mail-ed25519.pem', 'mail-ed25519.rspamd']) {
    const st = statSync(join(root, 'srv/mailserver/secrets/dkim/example.com', f));
    assert.equal([st.mode & 0o777, st.uid], [0o600, uid], f);
  }
  assert.match(readFileSync(join(root, 'srv/mailserver/config/postfix/main.cf'), 'utf8'), /^smtpd_milters = unix:\S+\/rspamd-milter\/milter\.sock$/m);
});

test('Rspamd: GTUBE on port 25 is rejected by Rspamd\'s own verdict', async () => {
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', source: OUTSIDE, from: 'sender@example.net', to: ['bob@example.com'], subject: 'gtube on', body: 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X' });
  assert.is(r.ok, false, JSON.stringify(r));
  assert.ok(typeof r.code === 'number' && r.code >= 500, JSON.stringify(r));
  const log = readFileSync(join(root, 'var/log/mailserver/rspamd.log'), 'utf8');
  assert.match(log, /GTUBE/);
});

test('Rspamd: authenticated mail is signed with RSA and Ed25519 and verifies; inbound is checked, not signed', async () => {
  expectSigned(verify(await submitted()), selectors());
  const raw = await inbound('sender@example.net', OUTSIDE);
  assert.equal(verify(raw), []);
  // Rspamd checked it (its result header is there) and SPF was evaluated for example.net.
  assert.match(raw, /^X-Spamd-Result:/m, raw.slice(0, 3000));
  assert.match(raw, /R_SPF_[A-Z]+/);
  assert.equal(verify(await inbound('alice@example.com', OUTSIDE)), []);
});

test('dkim rotate: new mail carries the new selectors; the old records stay published until the grace period ends', async () => {
  const old = selectors();
  const oldRecords = [`${old.rsa}._domainkey.example.com`, `${old.ed25519}._domainkey.example.com`];
  const rotated = json(['dkim', 'rotate']);
  assert.is(rotated.state, 'rotated');
  const now = selectors();
  assert.not.equal(now, old);
  for (const sel of Object.values(now)) assert.match(dig(`${sel}._domainkey.example.com`, 'TXT')[0] ?? '', /^v=DKIM1; k=/);
  expectSigned(verify(await submitted()), now);
  // tick inside the grace period keeps the old records and keys
  ok(root, ['tick']);
  for (const name of oldRecords) assert.is(dig(name, 'TXT').length, 1, name);
  assert.is(mailctl(root, ['dns-check']).code, 0);
  // the grace period over: tick removes them
  setUci(root, 'dns', 'dkim_grace_days', '0');
  const tick = json(['tick']);
  assert.equal([...tick.dkimRetired.removed].sort(), [...oldRecords].sort());
  for (const name of oldRecords) assert.equal(dig(name, 'TXT'), [], name);
  assert.is((json(['dkim', 'show']).keys as unknown[]).length, 2);
  assert.is(mailctl(root, ['dns-check']).code, 0);
});

test('spam_filter=0 again: OpenDKIM takes over signing with the rotated keys; GTUBE passes', async () => {
  setUci(root, 'features', 'spam_filter', '0');
  ok(root, ['apply']);
  await waitForSocket(OPENDKIM_SOCKET, 15_000);
  const s = json(['status']);
  assert.equal(s.services.map((x: { name: string }) => x.name), ['dovecot', 'postfix', 'opendkim']);
  expectSigned(verify(await submitted()), selectors());
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: ['bob@example.com'], subject: 'gtube off again', body: 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X' });
  assert.is(r.ok, true, JSON.stringify(r));
});

test('stop stops the milter with the other daemons', () => {
  ok(root, ['stop']);
  const s = json(['status']);
  assert.equal(s.services.map((x: { running: boolean }) => x.running), [false, false, false]);
});

test.run();
