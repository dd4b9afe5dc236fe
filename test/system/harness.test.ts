// Smoke test of the system-test harness itself: the network namespace, the test BIND,
// the Python mail client and the relay sink.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRelaySink } from '../support/relay-sink.ts';
import type { RelaySink } from '../support/relay-sink.ts';
import { insideTestNetns, runMailClient, waitForPort } from '../support/sandbox.ts';

const sh = (cmd: string, args: string[], input?: string): string =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

let sink: RelaySink | undefined;

test.before(() => {
  if (!insideTestNetns()) throw new Error('run me through test/run.mjs (needs test/support/netns.sh)');
});

test.after(async () => {
  await sink?.close();
});

test('the namespace has no interface but lo', () => {
  const links = sh('ip', ['-o', 'link', 'show']).trim().split('\n');
  assert.equal(links.length, 1, links.join('\n'));
  assert.match(links[0] ?? '', /^1: lo: <LOOPBACK,UP/);
  assert.not.match(sh('ip', ['route', 'show', 'default']), /default/);
});

test('the local BIND answers for the test zones and nothing else', () => {
  assert.is(process.env.TEST_DNS, '127.0.0.1');
  const soa = sh('dig', ['+short', '@127.0.0.1', 'example.com', 'SOA']);
  assert.match(soa, /^ns\.example\.com\. hostmaster\.example\.com\. /);
  assert.match(sh('dig', ['+short', 'example.com', 'MX']), /10 mail\.example\.com\./);
  // The system resolver (resolv.conf bind mount) goes to the same BIND.
  assert.match(sh('getent', ['hosts', 'mail.example.com']), /^127\.0\.0\.1\s+mail\.example\.com/);
  assert.match(sh('getent', ['hosts', '127.0.0.2']), /client\.example\.net/);
  // recursion is off: an outside name is refused instead of looked up.
  assert.match(sh('dig', ['@127.0.0.1', 'debian.org', 'A', '+time=1', '+tries=1']), /status: REFUSED/);
});

test('TSIG dynamic updates work with TEST_TSIG_KEYFILE', () => {
  const keyfile = process.env.TEST_TSIG_KEYFILE;
  assert.ok(keyfile, 'TEST_TSIG_KEYFILE is set');
  sh('nsupdate', ['-k', keyfile], [
    'server 127.0.0.1',
    'zone example.org',
    'update add harness.example.org 60 TXT "v=test1"',
    'send',
    '',
  ].join('\n'));
  assert.is(sh('dig', ['+short', 'harness.example.org', 'TXT']).trim(), '"v=test1"');
});

test('mail.py reports a closed port as clean JSON', async () => {
  const r = await runMailClient({
    action: 'send', host: '127.0.0.1', port: 1, tls: 'none',
    from: 'a@example.com', to: ['b@example.com'], subject: 's', body: 'b',
  });
  assert.is(r.ok, false);
  assert.match(r.error ?? '', /127\.0\.0\.1:1: Connection refused/);
  assert.is(r.code, null);
});

test('relay sink: STARTTLS + AUTH delivers, from 127.0.0.2', async () => {
  sink = await startRelaySink({ port: 0, user: 'relayuser', password: 's3cret pass' });
  await waitForPort('127.0.0.1', sink.port, 5000);
  const r = await runMailClient({
    action: 'send', host: '127.0.0.1', port: sink.port, tls: 'starttls',
    user: 'relayuser', password: 's3cret pass',
    from: 'alice@example.com', to: ['bob@example.org'], subject: 'Harness', body: 'hello through the sink',
  });
  assert.is(r.ok, true, JSON.stringify(r));
  assert.is(r.data?.code, 250);
  const [m] = await sink.waitForMessages(1, 5000);
  assert.ok(m);
  assert.is(m.from, 'alice@example.com');
  assert.equal(m.to, ['bob@example.org']);
  assert.is(m.authUser, 'relayuser');
  assert.is(m.secure, true);
  assert.match(m.remoteAddress, /127\.0\.0\.2$/);
  assert.match(m.raw, /^Subject: Harness\r$/m);
  assert.match(m.raw, /hello through the sink/);
});

test('relay sink refuses AUTH before STARTTLS, bad passwords and MAIL without AUTH', async () => {
  assert.ok(sink);
  const probe = await runMailClient({
    action: 'smtp_auth_probe', host: '127.0.0.1', port: sink.port, tls: 'starttls',
    user: 'relayuser', password: 's3cret pass',
  });
  assert.is(probe.ok, true, JSON.stringify(probe));
  if (!probe.ok) return;
  assert.is(probe.before_tls?.starttls_advertised, true);
  assert.is(probe.before_tls?.auth.ok, false);
  assert.is(probe.before_tls?.auth.code, 538);
  assert.is(probe.after_tls?.auth.ok, true);
  assert.ok(probe.after_tls?.mechanisms.includes('PLAIN'));

  const plain = await runMailClient({
    action: 'send', host: '127.0.0.1', port: sink.port, tls: 'none', user: 'relayuser', password: 's3cret pass',
    from: 'alice@example.com', to: ['bob@example.org'], subject: 'x', body: 'x',
  });
  assert.is(plain.ok, false);
  assert.is(plain.code, 538);

  const wrong = await runMailClient({
    action: 'send', host: '127.0.0.1', port: sink.port, tls: 'starttls', user: 'relayuser', password: 'nope',
    from: 'alice@example.com', to: ['bob@example.org'], subject: 'x', body: 'x',
  });
  assert.is(wrong.ok, false);
  assert.is(wrong.code, 535);

  const anonymous = await runMailClient({
    action: 'send', host: '127.0.0.1', port: sink.port, tls: 'starttls',
    from: 'alice@example.com', to: ['bob@example.org'], subject: 'x', body: 'x',
  });
  assert.is(anonymous.ok, false);
  assert.is(anonymous.code, 530);
  assert.is(sink.messages.length, 1);
});

test.run();
