// The foundation, end to end: mailctl configures and starts real Postfix and Dovecot inside
// the test network namespace; real clients (Python smtplib/imaplib/poplib) connect from
// 127.0.0.2 and see what a user would see. test/run.mjs runs this file on both runtimes: the
// daemons as host processes, and (TEST_RUNTIME=lxc) in a container sharing the namespace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
// Dovecot re-reads the users file at most once a second: `eventually` polls for such changes.
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, waitForSubject, type SendRequest } from '../support/sandbox.ts';
import { startRelaySink, caSignedCert, type RelaySink } from '../support/relay-sink.ts';
import { makeTestTls } from '../support/pebble.ts';
import { nsupdate, setUci } from '../support/dns.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { testRuntime, cachedRootfs, daemonsPath, onDaemonsMachine } from '../support/lxc.ts';

const RUNTIME = testRuntime();
const box = makeSandbox();
const root = box.root;
const H = '127.0.0.1';
const PW = { alice: 'alice-pass-1', bob: 'bob-pass-22', carol: 'carol-pass-333', post: 'postmaster-pass' };
let sink: RelaySink | undefined;

const send = (to: string[], extra: Partial<SendRequest> = {}) =>
  runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to, subject: extra.subject ?? 'hello', body: 'body text', ...extra });
const inbox = (user: string, password: string, port = 143, tls: 'starttls' | 'implicit' = 'starttls') =>
  runMailClient({ action: 'imap_fetch', host: H, port, tls, user, password });
const login = (user: string, password: string) => runMailClient({ action: 'imap_login', host: H, port: 143, tls: 'starttls', user, password });


test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { extraDomains: ['example.org'], postmaster: 'postmaster', runtime: RUNTIME });
  if (RUNTIME === 'lxc') ok(root, ['install', '--rootfs', cachedRootfs()]);
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], `${PW.alice}\n`);
  ok(root, ['user', 'add', 'Bob@Example.COM', '--password-stdin'], `${PW.bob}\n`);
  ok(root, ['user', 'add', 'carol@example.org', '--password-stdin', '--quota', '100M'], `${PW.carol}\n`);
  ok(root, ['user', 'add', 'postmaster@example.com', '--password-stdin'], `${PW.post}\n`);
});

test.after(async () => {
  await sink?.close();
  mailctl(root, ['stop']);
  box.cleanup();
});

test('status reports both daemons running and every enabled port open', () => {
  const s = JSON.parse(ok(root, ['status', '--json']).stdout);
  assert.is(s.running, true);
  assert.equal(s.ports.filter((p: { open: boolean }) => !p.open), []);
  assert.is(s.ports.length, 8);
  assert.is(s.runtime, RUNTIME);
  assert.is(s.container?.state ?? null, RUNTIME === 'lxc' ? 'running' : null);
});

test('mail sent over SMTP arrives by IMAP after STARTTLS; addresses are lower-cased', async () => {
  const r = await send(['alice@example.com', 'bob@example.com'], { subject: 'first' });
  assert.is(r.ok, true, JSON.stringify(r));
  assert.ok(await waitForSubject('alice@example.com', PW.alice, 'first'));
  assert.ok(await waitForSubject('bob@example.com', PW.bob, 'first'));
  assert.ok(readFileSync(join(root, 'srv/mailserver/config/users'), 'utf8').includes('bob@example.com:'));
});

test('implicit TLS IMAP and POP3 (STARTTLS and implicit) read the same mailbox', async () => {
  const imaps = await inbox('alice@example.com', PW.alice, 993, 'implicit');
  assert.ok(imaps.ok && imaps.messages.some((m) => m.subject === 'first'));
  for (const [port, tls] of [[110, 'starttls'], [995, 'implicit']] as const) {
    const pop = await runMailClient({ action: 'pop3_fetch', host: H, port, tls, user: 'alice@example.com', password: PW.alice });
    assert.ok(pop.ok && pop.messages.some((m) => m.subject === 'first'), JSON.stringify(pop));
  }
});

test('a wrong password is refused; plaintext login before TLS is refused', async () => {
  const bad = await login('alice@example.com', 'not-the-password');
  assert.is(bad.ok, false);
  const plain = await runMailClient({ action: 'imap_login', host: H, port: 143, tls: 'none', user: 'alice@example.com', password: PW.alice });
  assert.is(plain.ok, false, 'plaintext IMAP login must be refused from 127.0.0.2');
  const pop = await runMailClient({ action: 'pop3_fetch', host: H, port: 110, tls: 'starttls', user: 'alice@example.com', password: 'wrong-wrong' });
  assert.is(pop.ok, false);
});

test('alias, multi-target alias, catch-all, postmaster@ and abuse@ deliver to the right mailboxes', async () => {
  ok(root, ['alias', 'add', 'info@example.com', 'alice@example.com']);
  ok(root, ['alias', 'add', 'team@example.com', 'alice@example.com,bob@example.com']);
  ok(root, ['alias', 'add', '@example.org', 'carol@example.org']);
  const r = await send(['info@example.com', 'team@example.com', 'anything@example.org', 'postmaster@example.org', 'abuse@example.com'], { subject: 'aliases' });
  assert.is(r.ok, true, JSON.stringify(r));
  assert.equal(r.refused, []);
  assert.ok(await waitForSubject('carol@example.org', PW.carol, 'aliases'), 'catch-all reaches carol');
  assert.ok(await waitForSubject('postmaster@example.com', PW.post, 'aliases'), 'postmaster@ and abuse@ reach the postmaster');
  const alice = await inbox('alice@example.com', PW.alice);
  const bob = await inbox('bob@example.com', PW.bob);
  assert.ok(alice.ok && bob.ok);
  if (!alice.ok || !bob.ok) return;
  // info@ and team@ both name alice: Postfix delivers one copy per unique final recipient.
  assert.ok(alice.messages.some((m) => m.subject === 'aliases'));
  assert.ok(bob.messages.some((m) => m.subject === 'aliases'));
  // The catch-all must not swallow a real mailbox of its domain.
  await send(['carol@example.org'], { subject: 'direct' });
  assert.ok(await waitForSubject('carol@example.org', PW.carol, 'direct'));
});

test('an unknown address is refused at RCPT time with 5xx', async () => {
  const r = await send(['nobody@example.com', 'alice@example.com'], { subject: 'partial' });
  const refused = r.refused?.find((x) => x.to === 'nobody@example.com');
  assert.ok(refused, JSON.stringify(r));
  assert.ok(refused!.code >= 500 && refused!.code < 600, `code ${refused!.code}`);
});

test('an over-quota mailbox is refused at RCPT time, not bounced later', async () => {
  const big = 'x'.repeat(3000);
  assert.is((await send(['carol@example.org'], { subject: 'filler', body: big })).ok, true);
  assert.ok(await waitForSubject('carol@example.org', PW.carol, 'filler'));
  ok(root, ['user', 'quota', 'carol@example.org', '1K']);
  await new Promise((res) => setTimeout(res, 1100)); // Dovecot re-reads the users file at most once a second
  const r = await send(['carol@example.org'], { subject: 'too much' });
  const refused = r.refused?.find((x) => x.to === 'carol@example.org');
  assert.ok(refused, JSON.stringify(r));
  assert.ok(refused!.code >= 400 && refused!.code < 600, `code ${refused!.code}`);
  assert.match(refused!.message, /full|quota/i);
  ok(root, ['user', 'quota', 'carol@example.org', '0']);
  await new Promise((res) => setTimeout(res, 1100));
  assert.is((await send(['carol@example.org'], { subject: 'room again' })).ok, true);
});

test('after user passwd only the new password works', async () => {
  ok(root, ['user', 'passwd', 'bob@example.com', '--password-stdin'], 'bob-new-pass-4\n');
  assert.ok(await eventually(async () => !(await login('bob@example.com', PW.bob)).ok), 'old password refused');
  assert.is((await login('bob@example.com', PW.bob)).ok, false);
  assert.is((await login('bob@example.com', 'bob-new-pass-4')).ok, true);
  PW.bob = 'bob-new-pass-4';
});

/** Mailboxes made by `user import` (dana's from a hash made by glibc's crypt). */
const IMPORTED = { 'dave@example.com': 'dave-import-pass-5', 'dana@example.org': 'dana-hashed-pass-5' };

test('mailboxes made by user import log in over IMAP, with a password or a ready hash', async () => {
  const hash = spawnSync('/usr/bin/python3', ['-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))', IMPORTED['dana@example.org']], { encoding: 'utf8' }).stdout.trim();
  assert.match(hash, /^\$6\$/, 'a SHA512-CRYPT hash made by another tool (glibc crypt)');
  ok(root, ['user', 'import', '--password-stdin'], `address,password,quota\ndave@example.com,${IMPORTED['dave@example.com']},1G\ndana@example.org,${hash},\n`);
  assert.ok(await eventually(async () => (await login('dave@example.com', IMPORTED['dave@example.com'])).ok, 10_000), 'dave logs in');
  assert.is((await login('dana@example.org', IMPORTED['dana@example.org'])).ok, true, 'dana logs in with the password behind the imported hash');
});

test('submission refuses AUTH before STARTTLS and accepts it after', async () => {
  const probe = await runMailClient({ action: 'smtp_auth_probe', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW.alice });
  assert.ok(probe.ok, JSON.stringify(probe));
  if (!probe.ok) return;
  assert.is(probe.before_tls?.auth.ok, false);
  assert.is(probe.after_tls?.auth.ok, true);
  const smtps = await runMailClient({ action: 'smtp_auth_probe', host: H, port: 465, tls: 'implicit', user: 'alice@example.com', password: PW.alice });
  assert.ok(smtps.ok && smtps.after_tls?.auth.ok === true, JSON.stringify(smtps));
});

test('a client from 127.0.0.2 cannot relay on 25 or 587 without AUTH', async () => {
  const on25 = await send(['victim@example.net'], { subject: 'relay?' });
  assert.ok(on25.refused?.some((x) => x.to === 'victim@example.net' && x.code >= 500), JSON.stringify(on25));
  const on587 = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', from: 'alice@example.com', to: ['victim@example.net'], subject: 'relay?', body: 'x' });
  assert.is(on587.ok, false, JSON.stringify(on587));
});

test('authenticated mail to an outside domain reaches the relay host with AUTH over STARTTLS', async () => {
  // Credentials go only to a relay whose certificate a trusted CA signed for the relay's name.
  const ca = makeTestTls();
  sink = await startRelaySink({ port: 2525, user: 'relay-login', password: 'relay secret', name: 'relay.example.net', ...caSignedCert(ca, 'relay.example.net') });
  nsupdate('example.net', ['update add relay.example.net. 300 A 127.0.0.1']);
  setUci(root, 'main', 'relay_ca_file', ca.caFile);
  ok(root, ['relay', 'set', '[relay.example.net]:2525', '--user', 'relay-login', '--password-stdin'], 'relay secret\n');
  const secrets = join(root, 'srv/mailserver/secrets');
  assert.is(spawnSync('stat', ['-c', '%a', join(secrets, 'relay-credentials')], { encoding: 'utf8' }).stdout.trim(), '600');
  assert.not.match(readFileSync(join(root, 'etc/config/mailserver'), 'utf8'), /relay secret/);
  const r = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW.alice, from: 'alice@example.com', to: ['friend@example.net'], subject: 'outbound', body: 'via relay' });
  assert.is(r.ok, true, JSON.stringify(r));
  const [m] = await sink.waitForMessages(1, 20_000);
  assert.ok(m);
  assert.equal(m!.to, ['friend@example.net']);
  assert.is(m!.authUser, 'relay-login');
  assert.is(m!.secure, true);
});

test('an authenticated user cannot send as somebody else', async () => {
  const r = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW.alice, from: 'bob@example.com', to: ['bob@example.com'], subject: 'spoof', body: 'x' });
  assert.is(r.ok, false, JSON.stringify(r));
});

test('after user del the login fails and mail to it is refused', async () => {
  assert.is((await login('bob@example.com', PW.bob)).ok, true);
  ok(root, ['user', 'del', 'bob@example.com']);
  assert.ok(await eventually(async () => !(await login('bob@example.com', PW.bob)).ok), 'login refused');
  const r = await send(['bob@example.com'], { subject: 'gone' });
  assert.ok(r.refused?.some((x) => x.to === 'bob@example.com' && x.code >= 500), JSON.stringify(r));
  // team@ now points only at alice
  const aliases = JSON.parse(ok(root, ['alias', 'list', '--json']).stdout);
  assert.equal(aliases.items.find((a: { alias: string }) => a.alias === 'team@example.com').targets, ['alice@example.com']);
});

test('every hash we wrote passes doveadm pw -t; postfix check and doveconf -n are clean', () => {
  const users = readFileSync(join(root, 'srv/mailserver/config/users'), 'utf8').trim().split('\n');
  assert.ok(users.length >= 3);
  const known: Record<string, string> = { 'alice@example.com': PW.alice, 'carol@example.org': PW.carol, 'postmaster@example.com': PW.post, ...IMPORTED };
  for (const line of users) {
    const [email, hash] = line.split(':');
    const r = spawnSync('doveadm', ['pw', '-t', hash!, '-p', known[email!]!], { encoding: 'utf8' });
    assert.is(r.status, 0, `${email}: ${r.stderr}`);
  }
  const check = onDaemonsMachine(root, ['postfix', '-c', daemonsPath(root, 'srv/mailserver/config/postfix'), 'check']);
  assert.is(check.status, 0, check.stderr);
  assert.not.match(check.stderr, /warning|error/i);
  const conf = onDaemonsMachine(root, ['doveconf', '-c', daemonsPath(root, 'srv/mailserver/config/dovecot/dovecot.conf'), '-n']);
  assert.is(conf.status, 0, conf.stderr);
  assert.not.match(conf.stderr, /warning|error/i, conf.stderr);
});

test('stop stops both daemons; the ports close', async () => {
  ok(root, ['stop']);
  const s = JSON.parse(ok(root, ['status', '--json']).stdout);
  assert.is(s.running, false);
  assert.equal(s.services.map((x: { running: boolean }) => x.running), [false, false]);
});

test.run();
