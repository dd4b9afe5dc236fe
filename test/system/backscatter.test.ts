// No backscatter: a 1 MiB mailbox receives 1 000 messages through 20 parallel SMTP sessions
// (Postfix's smtp-source). The RCPT-time quota check refuses most once the mailbox is full;
// messages that passed it together and find the mailbox full at delivery wait in the queue
// (a temporary failure), and not one bounce goes back to the possibly forged sender.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, waitForPort, insideTestNetns, eventually } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox('mailserver-backscatter-');
const root = box.root;
const H = '127.0.0.1';
const postfixDir = join(root, 'srv/mailserver/config/postfix');
const mailLog = join(root, 'var/log/mailserver/mail.log');

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { quota: true });
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  ok(root, ['user', 'add', 'full@example.com', '--password-stdin', '--quota', '1M'], 'full-password-1\n');
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

/** The queue as Postfix reports it (one JSON object per message). */
function queue(): { sender: string; recipients: { address: string; delay_reason?: string }[] }[] {
  const r = spawnSync('postqueue', ['-c', postfixDir, '-j'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

test('1 000 messages at a 1 MiB mailbox through 20 sessions: no bounce to the sender', async () => {
  // 4 KiB each: the mailbox is full after about 250.
  const r = spawnSync('smtp-source', ['-s', '20', '-m', '1000', '-l', '4096', '-f', 'sender@example.net', '-t', 'full@example.com', '-M', 'outside.example.net', `${H}:25`], { encoding: 'utf8', timeout: 600_000 });
  assert.ok(r.status === 0 || r.status === 1, `smtp-source: ${r.status} ${r.stderr.slice(-500)}`);
  // Wait until nothing is being delivered any more: only deferred messages remain.
  assert.ok(
    await eventually(async () => queue().every((m) => m.recipients.every((x) => x.delay_reason !== undefined)), 600_000, 2000),
    'the queue settles',
  );
  const log = existsSync(mailLog) ? readFileSync(mailLog, 'utf8') : '';
  const bounced = log.split('\n').filter((l) => /status=bounced/.test(l));
  assert.equal(bounced, [], 'no message was bounced');
  const bounces = queue().filter((m) => m.sender === '');
  assert.equal(bounces.length, 0, `no bounce waits in the queue for the sender: ${JSON.stringify(bounces.slice(0, 3))}`);
  const delivered = log.split('\n').filter((l) => /relay=\S*lmtp/.test(l) && /status=sent/.test(l)).length;
  const waiting = queue().filter((m) => m.recipients.some((x) => /quota|full/i.test(x.delay_reason ?? ''))).length;
  const refused = log.split('\n').filter((l) => /NOQUEUE: reject: RCPT/.test(l) && /Mailbox is full/.test(l)).length;
  assert.ok(delivered > 0 && refused > 0, `the mailbox filled up: ${delivered} delivered, ${refused} refused at RCPT`);
  process.stdout.write(`  ${delivered} delivered, ${refused} refused at RCPT time, ${waiting} over quota at delivery waiting in the queue, 0 bounced\n`);
});

test.run();
