// Sign only what the login owns, and no local user reaches the signers. Real Postfix with
// OpenDKIM (spam_filter=0), then Rspamd (spam_filter=1); real clients on submission from
// 127.0.0.2 (Python smtplib). A forged envelope or From: is refused at SMTP time with 5.7.1 and
// never signed; the login's own address, a +tag form and an owned alias (also in our other
// domain) arrive signed and verify with python3-dkim. As uid nobody, neither the milter sockets
// nor Rspamd's controller answer, and nothing listens on the old TCP ports.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, type SendResult } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { setUci, signForTestBind } from '../support/dns.ts';
import { verifyDkim } from '../support/dkim.ts';
import { connectUnixAs, httpGetUnix } from '../support/unix-socket.ts';

// OpenDKIM refuses keys below a world-writable directory (/tmp): the sandbox lives in /run.
const box = makeSandbox('mailserver-spoof-', '/run');
const root = box.root;
const H = '127.0.0.1';
const PW = { alice: 'alice-pass-1', bob: 'bob-pass-22' };
const RUN = join(root, 'var/run/mailserver');
const OPENDKIM_SOCKETS = [join(RUN, 'opendkim/opendkim.sock'), join(RUN, 'opendkim/opendkim-ed25519.sock')];
const RSPAMD_MILTER = join(RUN, 'rspamd-milter/milter.sock');
const RSPAMD_CONTROLLER = join(RUN, 'rspamd/controller.sock');
const RSPAMD_NORMAL = join(RUN, 'rspamd/normal.sock');
let n = 0;

/** Authenticated as alice on 587: envelope `envelope`, header `From: from`, to bob. */
function submit(envelope: string, from: string, subject: string, port: 587 | 465 = 587): Promise<SendResult> {
  const raw = [
    `From: ${from}`,
    'To: bob@example.com',
    `Subject: ${subject}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${subject.replace(/\W/g, '-')}@client.example.net>`,
    '',
    'who am I?',
    '',
  ].join('\r\n');
  return runMailClient({ action: 'send', host: H, port, tls: port === 587 ? 'starttls' : 'implicit', user: 'alice@example.com', password: PW.alice, from: envelope, to: ['bob@example.com'], raw });
}

async function inbox(): Promise<{ subject: string | null; raw: string }[]> {
  const r = await runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user: 'bob@example.com', password: PW.bob });
  return r.ok ? r.messages : [];
}

async function arrived(subject: string): Promise<string> {
  let raw: string | undefined;
  await eventually(async () => (raw = (await inbox()).find((m) => m.subject === subject)?.raw) !== undefined, 20_000, 250);
  if (raw === undefined) throw new Error(`${subject} did not arrive`);
  return raw;
}

/** Each forgery: refused with a 5xx reply carrying 5.7.1, and never delivered. */
async function expectRefused(signer: string): Promise<void> {
  const cases: [string, string, string][] = [
    ['other mailbox in From:', 'alice@example.com', 'bob@example.com'],
    ['other domain in From:', 'alice@example.com', 'ceo@example.org'],
    ['display name hiding another address', 'alice@example.com', '"alice@example.com" <bob@example.com>'],
    ['null sender', '', 'alice@example.com'],
    ['other envelope', 'bob@example.com', 'alice@example.com'],
  ];
  const subjects: string[] = [];
  for (const [what, envelope, from] of cases) {
    const subject = `${signer} forged ${++n}`;
    subjects.push(subject);
    const r = await submit(envelope, from, subject);
    assert.is(r.ok, false, `${signer}, ${what}: ${JSON.stringify(r)}`);
    // Postfix answers sender restrictions at RCPT (smtpd_delay_reject), a milter at end of data.
    const reply = `${r.code} ${r.refused?.[0]?.message ?? r.data?.message ?? r.error}`;
    assert.match(reply, /^5\d\d /, `${signer}, ${what}: ${reply}`);
    assert.match(reply, /5\.7\.1/, `${signer}, ${what}: ${reply}`);
  }
  // A message that was accepted meanwhile shows the mailbox is live; none of the forged arrived.
  const subject = `${signer} control ${++n}`;
  assert.is((await submit('alice@example.com', 'alice@example.com', subject)).ok, true);
  await arrived(subject);
  const got = (await inbox()).map((m) => m.subject);
  for (const s of subjects) assert.not.ok(got.includes(s), `${s} was delivered`);
}

/** Owned addresses: accepted, and signed with the From: domain's keys (RSA and Ed25519), valid. */
async function expectSigned(signer: string): Promise<void> {
  const cases: [string, string, string][] = [
    ['own address', 'alice@example.com', 'Alice <alice@example.com>'],
    ['+tag', 'alice+news@example.com', 'alice+news@example.com'],
    ['owned alias', 'sales@example.com', 'Sales <sales@example.com>'],
    ['owned alias +tag in another of our domains', 'team+x@example.org', 'team+x@example.org'],
  ];
  for (const [what, envelope, from] of cases) {
    const subject = `${signer} owned ${++n}`;
    const r = await submit(envelope, from, subject, n % 2 ? 587 : 465);
    assert.is(r.ok, true, `${signer}, ${what}: ${JSON.stringify(r)}`);
    const domain = envelope.split('@')[1];
    const sigs = verifyDkim(await arrived(subject));
    assert.equal(sigs.map((x) => `${x.d} ${x.a} ${x.ok}`).sort(), [`${domain} ed25519-sha256 true`, `${domain} rsa-sha256 true`], `${signer}, ${what}`);
  }
}

/** Mail made on the router (Postfix's sendmail): signed for a From: in our domains only. */
async function expectLocalMailSignedForOurDomains(signer: string): Promise<void> {
  for (const [from, signedBy] of [['postmaster@example.org', 'example.org'], ['someone@example.net', null]] as const) {
    const subject = `${signer} local ${++n}`;
    const raw = `From: ${from}\nTo: bob@example.com\nSubject: ${subject}\nMessage-ID: <${subject.replace(/\W/g, '-')}@mail.example.com>\n\nmade on the router\n`;
    const r = spawnSync('sendmail', ['-C', join(root, 'srv/mailserver/config/postfix'), '-f', from, '-i', '--', 'bob@example.com'], { input: raw, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const sigs = verifyDkim(await arrived(subject));
    const expected = signedBy ? [`${signedBy} ed25519-sha256 true`, `${signedBy} rsa-sha256 true`] : [];
    assert.equal(sigs.map((x) => `${x.d} ${x.a} ${x.ok}`).sort(), expected, `${signer}, sendmail From: ${from}`);
  }
}

/** As nobody: every socket refuses the connection; nothing listens on the old TCP ports. */
function expectUnreachable(sockets: string[]): void {
  for (const path of sockets) {
    assert.ok(existsSync(path), path);
    // A milter (or HTTP) request that would be answered if the connect went through.
    const r = connectUnixAs('nobody', path, 'GET /stat HTTP/1.0\r\n\r\n');
    assert.equal(r, { answer: null, error: 'PermissionError' }, path);
  }
  const tcp = spawnSync('ss', ['-Htln'], { encoding: 'utf8' }).stdout;
  for (const port of [8891, 8892, 11332, 11333, 11334]) assert.not.match(tcp, new RegExp(`:${port}\\s`), `port ${port} listens`);
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { dkim: true, spamFilter: false, extraDomains: ['example.org'] });
  signForTestBind(root);
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], `${PW.alice}\n`);
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin'], `${PW.bob}\n`);
  ok(root, ['alias', 'add', 'sales@example.com', 'alice@example.com']);
  ok(root, ['alias', 'add', 'team@example.org', 'alice@example.com,bob@example.com']);
  ok(root, ['dns-setup']);
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

test('OpenDKIM: forged envelope or From: is refused with 5.7.1 and never delivered', async () => {
  await expectRefused('opendkim');
});

test('OpenDKIM: own address, +tag and owned aliases are signed and verify', async () => {
  await expectSigned('opendkim');
});

test('OpenDKIM: mail made on the router is signed for our domains only', async () => {
  await expectLocalMailSignedForOurDomains('opendkim');
});

test('OpenDKIM: as nobody the milter sockets refuse the connection; no TCP listener', () => {
  expectUnreachable(OPENDKIM_SOCKETS);
});

test('Rspamd: spam_filter=1 (first start compiles for a while)', async () => {
  setUci(root, 'features', 'spam_filter', '1');
  ok(root, ['apply']);
  assert.ok(await eventually(async () => (await httpGetUnix(RSPAMD_CONTROLLER, '/ping'))?.includes('pong') ?? false, 300_000, 500), 'controller answers root');
});

test('Rspamd: forged envelope or From: is refused with 5.7.1 and never delivered', async () => {
  await expectRefused('rspamd');
});

test('Rspamd: own address, +tag and owned aliases are signed and verify', async () => {
  await expectSigned('rspamd');
});

test('Rspamd: mail made on the router is signed for our domains only', async () => {
  await expectLocalMailSignedForOurDomains('rspamd');
});

test('Rspamd: as nobody neither the milter nor the controller nor the scanner answers; no TCP listener', () => {
  expectUnreachable([RSPAMD_MILTER, RSPAMD_CONTROLLER, RSPAMD_NORMAL]);
  // rspamc, Rspamd's own client, as nobody: no answer, no signature.
  const r = spawnSync('setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', 'rspamc', '-h', RSPAMD_NORMAL, 'symbols'], { input: 'From: alice@example.com\r\n\r\nx\r\n', encoding: 'utf8', timeout: 30_000 });
  assert.not.match(r.stdout, /DKIM-Signature|Action:/, r.stdout);
});

test.run();
