// Postfix against a hostile network peer, with real clients from 127.0.0.2: SMTP smuggling
// (a second, forged message hidden behind a bare-LF end of data, sent raw over a socket) and
// ETRN on port 25; and a man in the middle on the relay path: a relay sink whose certificate
// no trusted CA signed never sees AUTH, while one with a certificate from the CA named in
// main.relay_ca_file gets the mail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually } from '../support/sandbox.ts';
import { mailctl, mailctlAsync, ok, writeConfig } from '../support/mailctl.ts';
import { nsupdate, setUci } from '../support/dns.ts';
import { startRelaySink, selfSignedCert, caSignedCert, type RelaySink } from '../support/relay-sink.ts';
import { makeTestTls } from '../support/pebble.ts';

const box = makeSandbox();
const root = box.root;
const H = '127.0.0.1';
const PW = { alice: 'alice-pass-1', bob: 'bob-pass-22' };
const RELAY = 'relay.example.net';
const sinks: RelaySink[] = [];

/** One SMTP conversation over a raw socket from 127.0.0.2: each step waits for its reply. */
class RawSmtp {
  private buffer = '';
  private waiting: (() => void) | null = null;
  private closed = false;
  private constructor(private socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => {});
  }

  static open(port: number): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: H, port, localAddress: '127.0.0.2' }, () => resolve(new RawSmtp(s)));
      s.once('error', reject);
    });
  }

  /** The next complete reply (last line `NNN text`), or null when the server hung up first. */
  async reply(timeoutMs = 20_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = /^\d{3} [^\n]*\r\n/m.exec(this.buffer);
      if (end) {
        const r = this.buffer.slice(0, end.index + end[0].length);
        this.buffer = this.buffer.slice(r.length);
        return r.trim();
      }
      if (this.closed || Date.now() > deadline) return null;
      await new Promise<void>((res) => {
        this.waiting = res;
        setTimeout(res, 200);
      });
      this.waiting = null;
    }
  }

  async command(line: string): Promise<string | null> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  write(data: string): void {
    this.socket.write(data, 'latin1');
  }

  close(): void {
    this.socket.destroy();
  }
}

async function subjects(user: string, password: string): Promise<string[]> {
  const r = await runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user, password });
  return r.ok ? r.messages.map((m) => m.subject ?? '') : [];
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root);
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], `${PW.alice}\n`);
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin'], `${PW.bob}\n`);
  // The relay has a name in DNS (the test BIND): certificates name hosts, not 127.0.0.1.
  nsupdate('example.net', [`update add ${RELAY}. 300 A 127.0.0.1`]);
});

test.after(async () => {
  for (const s of sinks) await s.close();
  mailctl(root, ['stop']);
  box.cleanup();
});

const VARIANTS: [string, string][] = [['LF.CRLF', '\n.\r\n'], ['CRLF.LF', '\r\n.\n'], ['LF.LF', '\n.\n']];

for (const [name, end] of VARIANTS) {
  test(`smuggling ${name}: the hidden second message is never delivered; one message arrives`, async () => {
    const smtp = await RawSmtp.open(25);
    // Behind postscreen the greeting is multi-line (220- first, then 220 after its pregreet wait).
    assert.match((await smtp.reply()) ?? '', /^220[ -]/m);
    assert.match((await smtp.command('EHLO client.example.net')) ?? '', /^250[ -]/);
    assert.match((await smtp.command('MAIL FROM:<sender@example.net>')) ?? '', /^250 /);
    assert.match((await smtp.command('RCPT TO:<bob@example.com>')) ?? '', /^250 /);
    assert.match((await smtp.command('DATA')) ?? '', /^354 /);
    smtp.write(
      `From: sender@example.net\r\nTo: bob@example.com\r\nSubject: outer ${name}\r\n\r\nfirst${end}` +
      'MAIL FROM:<ceo@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n' +
      `From: ceo@example.com\r\nTo: bob@example.com\r\nSubject: smuggled ${name}\r\n\r\nforged\r\n.\r\nQUIT\r\n`,
    );
    // Read every reply until Postfix hangs up (it may refuse the bare LF and disconnect).
    const replies: string[] = [];
    for (let r = await smtp.reply(30_000); r !== null; r = await smtp.reply(30_000)) replies.push(r);
    smtp.close();
    const mine = () => subjects('bob@example.com', PW.bob).then((all) => all.filter((s) => s.endsWith(` ${name}`)));
    assert.ok(await eventually(async () => (await mine()).length > 0, 20_000, 250), `nothing arrived: ${replies.join(' | ')}`);
    // Let a smuggled second message catch up before counting.
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal(await mine(), [`outer ${name}`], replies.join(' | '));
  });
}

test('ETRN is refused on port 25', async () => {
  const smtp = await RawSmtp.open(25);
  await smtp.reply();
  await smtp.command('EHLO client.example.net');
  const r = await smtp.command('ETRN example.com');
  smtp.close();
  assert.match(r ?? '', /^5\d\d /);
});

test('relay with an untrusted certificate: no AUTH reaches it; mail is deferred and mailctl test says why', async () => {
  const sink = await startRelaySink({ port: 2526, user: 'relay-login', password: 'relay secret', name: RELAY, ...selfSignedCert(RELAY) });
  sinks.push(sink);
  ok(root, ['relay', 'set', `[${RELAY}]:2526`, '--user', 'relay-login', '--password-stdin'], 'relay secret\n');
  const r = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW.alice, from: 'alice@example.com', to: ['friend@example.net'], subject: 'to the mitm', body: 'x' });
  assert.is(r.ok, true, JSON.stringify(r));
  // Asynchronously: the sink lives in this process and must answer while mailctl waits.
  const run = await mailctlAsync(root, ['test', 'friend@example.net', '--json']);
  assert.is(run.code, 0, run.stderr);
  const t = JSON.parse(run.stdout);
  assert.is(t.status, 'deferred', JSON.stringify(t));
  assert.match(t.reason, /certificate not verified/i, JSON.stringify(t));
  assert.match(t.tls.join('\n'), /certificate verification failed for relay\.example\.net\[127\.0\.0\.1\]:2526: self-signed certificate/, JSON.stringify(t));
  const log = readFileSync(join(root, 'var/log/mailserver/mail.log'), 'utf8');
  assert.match(log, /status=deferred \([^)]*[Cc]ertificate/);
  assert.equal(sink.authFailures, []);
  assert.equal(sink.messages, []);
});

test('relay with a certificate from the CA in main.relay_ca_file: the mail goes out with AUTH', async () => {
  const ca = makeTestTls();
  const sink = await startRelaySink({ port: 2527, user: 'relay-login', password: 'relay secret', name: RELAY, ...caSignedCert(ca, RELAY) });
  sinks.push(sink);
  setUci(root, 'main', 'relay_ca_file', ca.caFile);
  ok(root, ['relay', 'set', `[${RELAY}]:2527`, '--user', 'relay-login', '--password-stdin'], 'relay secret\n');
  const r = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW.alice, from: 'alice@example.com', to: ['friend@example.net'], subject: 'to the relay', body: 'x' });
  assert.is(r.ok, true, JSON.stringify(r));
  const got = await sink.waitForMessages(1, 30_000);
  const m = got.find((x) => x.raw.includes('Subject: to the relay'));
  assert.ok(m, got.map((x) => x.raw.slice(0, 200)).join('\n'));
  assert.is(m!.authUser, 'relay-login');
  assert.is(m!.secure, true);
});

test.run();
