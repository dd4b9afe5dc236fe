// Brute-force defence (features.fail2ban=1) as an attacker and a user meet it: real Postfix and
// Dovecot, real clients from 127.0.0.x, nftables inside the test's network namespace. N failed
// logins from one address within the window ban it (the mail ports refuse it) while another
// address still logs in; the ban expires by itself, `ban del` lifts it; a user with a few
// typos still gets in; the watcher survives log rotation and its own restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually } from '../support/sandbox.ts';
import { MAILCTL, mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { imapLogin as probeImapLogin, connects as probeConnects } from '../support/ban-probes.ts';

const box = makeSandbox('mailserver-bans-');
const root = box.root;
const H = '127.0.0.1';
const PW = 'alice-pass-1';
const USER = 'alice@example.com';
const N = 5;
const BAN_TIME = 20;
const logDir = join(root, 'var/log/mailserver');

/** One AUTH PLAIN after STARTTLS on submission; the reply code, or null when refused. */
async function smtpAuth(source: string, password: string): Promise<number | null> {
  const r = await runMailClient({ action: 'smtp_auth_probe', host: H, port: 587, tls: 'starttls', user: USER, password, source });
  return r.ok && r.after_tls ? r.after_tls.auth.code : null;
}

const imapLogin = (source: string, password: string) => probeImapLogin(H, USER, source, password);
const connects = (source: string, port: number) => probeConnects(H, source, port);

function bans(): string[] {
  return JSON.parse(ok(root, ['ban', 'list', '--json']).stdout).items.map((b: { address: string }) => b.address);
}

const banned = (address: string) => eventually(async () => bans().includes(address), 10_000, 200);

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, {
    extra: `
config ban 'ban'
\toption max_failures '${N}'
\toption find_time '600'
\toption ban_time '${BAN_TIME}'
\tlist allow '127.0.0.16/28'
`,
  });
  ok(root, ['start']);
  await waitForPort(H, 587, 15_000);
  await waitForPort(H, 143, 15_000);
  ok(root, ['user', 'add', USER, '--password-stdin'], `${PW}\n`);
  // The watcher is up and following the log before anyone fails.
  assert.ok(await eventually(async () => /watching/.test(readFileSync(join(logDir, 'ban-watch.log'), 'utf8')), 15_000));
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

test('a few typos (fewer than N) do not lock a user out: submission and IMAP still log in', async () => {
  for (let i = 0; i < N - 1; i++) assert.is(await smtpAuth('127.0.0.5', 'typo-typo'), 535);
  assert.is(await smtpAuth('127.0.0.5', PW), 235, 'a correct login after N-1 failures, within Postfix’s wait');
  assert.is(await imapLogin('127.0.0.5', PW), 'ok');
  assert.not.ok(bans().includes('127.0.0.5'));
});

test('N failed SMTP AUTH attempts ban the address; parallel connections do not beat the limit; another address still logs in', async () => {
  // Three waves of ten parallel guesses. The ban lands while the first wave waits out Dovecot's
  // failure delay, so the later waves find the port closed.
  const WAVE = 10;
  const answered: (number | null)[] = [];
  for (let wave = 0; wave < 3; wave++) {
    answered.push(...(await Promise.all(Array.from({ length: WAVE }, () => smtpAuth('127.0.0.2', 'guess-guess')))));
  }
  const failures = answered.filter((c) => c === 535).length;
  assert.ok(failures >= N, `at least N guesses were answered before the ban (${failures})`);
  assert.ok(failures <= WAVE, `${failures} of ${answered.length} guesses answered: the ban came after the first wave at most`);
  assert.ok(await banned('127.0.0.2'));
  assert.is(await connects('127.0.0.2', 587), false, 'submission refuses the banned address');
  assert.is(await connects('127.0.0.2', 143), false, 'IMAP refuses it too');
  assert.is(await smtpAuth('127.0.0.2', PW), null, 'even the right password gets no answer');
  // Someone else is not affected.
  assert.is(await smtpAuth('127.0.0.3', PW), 235);
  assert.is(await imapLogin('127.0.0.3', PW), 'ok');
  const status = JSON.parse(ok(root, ['status', '--json']).stdout);
  assert.is(status.bans.watching, true);
  assert.ok(status.bans.count >= 1);
  assert.ok(JSON.parse(ok(root, ['overview', '--json']).stdout).bans.some((b: { address: string }) => b.address === '127.0.0.2'));
});

test('a server not started since boot has no bans to show, and its status runs no nft for them', () => {
  // The kernel's table holds a ban of the server above; this root never loaded the table.
  assert.ok(bans().includes('127.0.0.2'));
  const fresh = makeSandbox('mailserver-bans-fresh-');
  try {
    writeConfig(fresh.root);
    const calls = join(fresh.root, 'nft-calls');
    const shim = join(fresh.root, 'bin');
    mkdirSync(shim);
    writeFileSync(join(shim, 'nft'), `#!/bin/sh\necho "$*" >>'${calls}'\nexec /usr/sbin/nft "$@"\n`, { mode: 0o755 });
    const run = (args: string[]) => {
      const r = spawnSync(MAILCTL, [...args, '--json'], { env: { ...process.env, MAILSERVER_ROOT: fresh.root, PATH: `${shim}:${process.env.PATH}` }, encoding: 'utf8' });
      assert.is(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    assert.equal(run(['status']).bans, { watching: false, count: 0 });
    assert.equal(run(['overview']).bans, []);
    assert.equal(run(['ban', 'list']).items, []);
    assert.not.ok(existsSync(calls), 'no nft process ran');
  } finally {
    fresh.cleanup();
  }
});

test('`ban del` lifts a ban at once', async () => {
  ok(root, ['ban', 'del', '127.0.0.2']);
  assert.not.ok(bans().includes('127.0.0.2'));
  assert.is(await smtpAuth('127.0.0.2', PW), 235);
  const again = mailctl(root, ['ban', 'del', '127.0.0.2']);
  assert.is(again.code, 1);
  assert.match(again.stderr, /not banned/);
});

test('N failed IMAP logins ban the address; the ban expires by itself', async () => {
  for (let i = 0; i < N; i++) assert.is(await imapLogin('127.0.0.4', 'wrong-wrong'), 'failed');
  assert.ok(await banned('127.0.0.4'));
  assert.ok(await eventually(async () => !(await connects('127.0.0.4', 143)), 5_000));
  assert.is(await imapLogin('127.0.0.3', PW), 'ok');
  // ban_time is short here: the kernel lifts it, nothing of ours has to run.
  assert.ok(await eventually(async () => await connects('127.0.0.4', 143), (BAN_TIME + 15) * 1000, 1000), 'the ban expired');
  assert.not.ok(bans().includes('127.0.0.4'));
  assert.is(await imapLogin('127.0.0.4', PW), 'ok');
});

test('allow-listed networks and the router itself are never banned', async () => {
  for (let i = 0; i < N + 1; i++) assert.is(await imapLogin('127.0.0.17', 'wrong-wrong'), 'failed');
  assert.is(await imapLogin('127.0.0.17', PW), 'ok');
  assert.not.ok(bans().includes('127.0.0.17'));
  for (const address of ['127.0.0.17', '127.0.0.1']) {
    const r = mailctl(root, ['ban', 'add', address]);
    assert.is(r.code, 1, address);
    assert.match(r.stderr, /never banned/);
  }
  const bad = mailctl(root, ['ban', 'add', '127.0.0.1; rm -rf /']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /address/);
});

test('the watcher follows a rotated log and survives its own restart; idle it uses no CPU', async () => {
  // Rotation: the log is renamed away and Dovecot reopens a new one.
  renameSync(join(logDir, 'dovecot.log'), join(logDir, 'dovecot.log.1'));
  const reopen = spawnSync('doveadm', ['-c', join(root, 'srv/mailserver/config/dovecot/dovecot.conf'), 'log', 'reopen'], { encoding: 'utf8' });
  assert.is(reopen.status, 0, reopen.stderr);
  for (let i = 0; i < N; i++) assert.is(await imapLogin('127.0.0.6', 'wrong-wrong'), 'failed');
  assert.ok(await banned('127.0.0.6'), 'banned from the new log file');

  // A killed watcher comes back with the next apply and resumes where it stopped.
  const before = JSON.parse(ok(root, ['status', '--json']).stdout);
  const pid = Number(JSON.parse(readFileSync(join(root, 'srv/mailserver/state/ban-watch.pid'), 'utf8')).pid);
  process.kill(pid, 'SIGTERM');
  assert.ok(await eventually(async () => !JSON.parse(ok(root, ['status', '--json']).stdout).bans.watching, 5000));
  for (let i = 0; i < N - 2; i++) assert.is(await imapLogin('127.0.0.7', 'wrong-wrong'), 'failed');
  ok(root, ['apply']);
  assert.ok(await eventually(async () => JSON.parse(ok(root, ['status', '--json']).stdout).bans.watching, 10_000));
  for (let i = 0; i < 2; i++) assert.is(await imapLogin('127.0.0.7', 'wrong-wrong'), 'failed');
  assert.ok(await banned('127.0.0.7'), 'failures logged while it was down count too');
  assert.ok(before.bans.watching);

  // Idle: asleep in inotify, its CPU time does not move.
  const newPid = Number(JSON.parse(readFileSync(join(root, 'srv/mailserver/state/ban-watch.pid'), 'utf8')).pid);
  const cpu = () => readFileSync(`/proc/${newPid}/stat`, 'utf8').split(') ')[1]!.split(' ').slice(11, 13).map(Number).reduce((a, b) => a + b, 0);
  const t0 = cpu();
  await new Promise((r) => setTimeout(r, 3000));
  assert.ok(cpu() - t0 <= 1, `the idle watcher used ${cpu() - t0} clock ticks in 3 s`);
});

test('port 25: postscreen drops a client that talks before its turn', async () => {
  const reply = await new Promise<string>((resolve) => {
    let text = '';
    const s = connect({ host: H, port: 25, localAddress: '127.0.0.9' }, () => {
      s.write('EHLO bot.example.net\r\nMAIL FROM:<bot@example.net>\r\nRCPT TO:<alice@example.com>\r\nQUIT\r\n');
    });
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.setTimeout(20_000, () => s.destroy());
    s.on('close', () => resolve(text));
    s.on('error', () => resolve(text));
  });
  assert.match(reply, /^5\d\d /m, `the pregreeting bot is refused: ${reply}`);
  assert.ok(await eventually(async () => /PREGREET .*\[127\.0\.0\.9\]/.test(readFileSync(join(logDir, 'mail.log'), 'utf8')), 5000));
});

test.run();
