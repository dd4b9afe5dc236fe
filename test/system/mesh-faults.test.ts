// A backup that cannot be trusted is refused before anything is written, and a restore that
// cannot finish leaves the node serving what it had: one flipped byte, a truncated file, `../`,
// symlink, absolute and unknown entries, a newer format, another node's key, a disk too small,
// and SIGKILL at any moment of the restore job (the next command then works and finishes; a kill
// after the swap, while the daemons are stopped, is finished by the next tick).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, type Sandbox } from '../support/sandbox.ts';
import { MAILCTL, mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { H, USERS, json, slow, slowJson, data, snapshot, differences, rendered, writeMessages, imapCount, craftTar } from '../support/mesh-nodes.ts';

const PORTS = { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993, pop3: 110, pop3s: 995, sieve: 4190 };
const boxes: Sandbox[] = [];
const sandbox = () => {
  const b = makeSandbox('mailserver-mesh-faults-', '/run');
  boxes.push(b);
  return b.root;
};
/** The node whose own backup is restored (or refused) onto it. */
const N = sandbox();
let backupFile = '';

// uvu reports a failing before hook only as failed tests: say why.
test.before(async () => {
  try {
    if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
    writeConfig(N);
    ok(N, ['start']);
    await waitForPort(H, PORTS.imap, 15_000);
    for (const u of USERS) ok(N, ['user', 'add', u.email, '--password-stdin'], `${u.password}\n`);
    for (const u of USERS) writeMessages(N, u.email, u.messages);
    backupFile = slowJson(N, ['mesh', 'backup']).file;
  } catch (e) {
    console.error('set-up failed:', e);
    throw e;
  }
});

test.after(() => {
  mailctl(N, ['stop']);
  for (const b of boxes) b.cleanup();
});

test('each bad file is refused before any write; the node keeps serving its data', async () => {
  const before = snapshot(N);
  const cases: [string, string, RegExp][] = [];
  const flipped = join(N, 'flipped.age');
  copyFileSync(backupFile, flipped);
  const size = statSync(flipped).size;
  const at = Math.floor(size / 2);
  const fd = openSync(flipped, 'r+');
  writeSync(fd, Buffer.from([readFileSync(flipped)[at]! ^ 0x01]), 0, 1, at);
  closeSync(fd);
  cases.push(['one flipped byte', flipped, /damaged or truncated/]);
  const truncated = join(N, 'truncated.age');
  copyFileSync(backupFile, truncated);
  truncateSync(truncated, Math.floor(size * 0.7));
  cases.push(['truncated', truncated, /damaged or truncated|truncated/]);
  const header = (format: number) => ({ name: 'BACKUP.json', data: JSON.stringify({ format, node: 'evil.example', created: '2026-01-01T00:00:00.000Z' }) });
  const dotdot = join(N, 'dotdot.tar');
  craftTar(dotdot, [header(1), { name: 'data', dir: true }, { name: 'data/mail/../../../etc/passwd', data: 'x' }]);
  cases.push(['a ../ entry', dotdot, /leaves its folder/]);
  const link = join(N, 'link.tar');
  craftTar(link, [header(1), { name: 'data', dir: true }, { name: 'data/mail', dir: true }, { name: 'data/mail/evil', symlink: '/etc/shadow' }]);
  cases.push(['a symlink entry', link, /symlink/]);
  const absolute = join(N, 'absolute.tar');
  craftTar(absolute, [header(1), { name: '/etc/passwd', data: 'x' }]);
  cases.push(['an absolute path', absolute, /absolute path|unknown entry|leaves/]);
  const unknown = join(N, 'unknown.tar');
  craftTar(unknown, [header(1), { name: 'etc', dir: true }]);
  cases.push(['an unknown top-level entry', unknown, /unknown entry/]);
  const newer = join(N, 'newer.tar');
  craftTar(newer, [header(2)]);
  cases.push(['a newer format', newer, /format 2 is newer/]);

  for (const [what, file, reason] of cases) {
    const r = slow(N, ['mesh', 'restore', file]);
    assert.is(r.code, 1, `${what}: ${r.stdout}`);
    assert.match(r.stderr, reason, what);
    assert.equal(differences(before, snapshot(N)), [], `${what} changed the node's data`);
    assert.is(existsSync(data(N, '.restore-staging')), false, what);
  }

  // Another node's key: refused with the reason, nothing touched.
  const ownKey = json(N, ['mesh', 'key', 'export']).key as string;
  ok(N, ['mesh', 'key', 'import', '--password-stdin'], 'a different passphrase of enough length\n');
  writeFileSync(data(N, 'secrets/mesh-backup.key.previous'), 'also not the right passphrase here\n', { mode: 0o600 });
  const withWrongKey = snapshot(N);
  const wrong = slow(N, ['mesh', 'restore', backupFile]);
  const afterWrong = snapshot(N);
  ok(N, ['mesh', 'key', 'import', '--password-stdin'], `${ownKey}\n`);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /cannot be decrypted/);
  assert.equal(differences(withWrongKey, afterWrong), []);
  assert.is(await imapCount(USERS[2]!, PORTS.imap), USERS[2]!.messages);
});

test('a disk too small for the restore: refused with the reason, the node keeps serving its own data', async () => {
  // Node C: data_path on a 6 MiB filesystem (private to the test's mount namespace).
  const C = sandbox();
  const ports = Object.fromEntries(Object.entries(PORTS).map(([k, v]) => [k, v + 20000]));
  mkdirSync(data(C), { recursive: true });
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m,mode=0755', 'tmpfs', data(C)], { encoding: 'utf8' });
  assert.is(mount.status, 0, mount.stderr);
  try {
    writeConfig(C, { ports });
    ok(C, ['start']);
    await waitForPort(H, ports.imap!, 15_000);
    ok(C, ['user', 'add', 'zed@example.com', '--password-stdin'], 'zed-pass-4444\n');
    ok(C, ['mesh', 'key', 'import', '--password-stdin'], `${json(N, ['mesh', 'key', 'export']).key}\n`);
    const before = snapshot(C);
    const r = slow(C, ['mesh', 'restore', backupFile]);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stderr, /no space left/);
    assert.equal(differences(before, snapshot(C)), []);
    assert.is(existsSync(data(C, '.restore-staging')), false);
    const zed = await runMailClient({ action: 'imap_login', host: H, port: ports.imap!, tls: 'starttls', user: 'zed@example.com', password: 'zed-pass-4444' });
    assert.is(zed.ok, true, JSON.stringify(zed));
  } finally {
    mailctl(C, ['stop']);
    spawnSync('umount', [data(C)]);
  }
});

test('SIGKILL of the restore at any point: the node holds either its old or the new data, and the next restore works', async () => {
  // Folders a finished swap leaves (the replaced data, kept for --undo).
  const previousFolders = () => readdirSync(data(N)).filter((n) => n.startsWith('restore-previous-')).length;
  for (const delay of [300, 1500, 5000]) {
    const before = snapshot(N);
    const swapsBefore = previousFolders();
    const child = spawn(MAILCTL, ['mesh', 'restore', backupFile], { env: { ...process.env, MAILSERVER_ROOT: N }, stdio: 'ignore' });
    // Waited for from the start: on a fast machine the restore may end before the kill.
    const closed = new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await closed;
    // Killed before the swap began (no journal, no new restore-previous folder): nothing changed.
    if (!existsSync(data(N, '.restore-journal.json')) && previousFolders() === swapsBefore) {
      const changed = differences(before, snapshot(N)).filter((p) => !rendered(p));
      assert.equal(changed, [], `killed after ${delay} ms outside the swap, yet the node's data changed`);
    }
    // The next command is not blocked (a dry run); a swap the kill interrupted is finished by the next restore.
    const next = slow(N, ['mesh', 'restore', backupFile, existsSync(data(N, '.restore-journal.json')) ? '--json' : '--dry-run']);
    assert.is(next.code, 0, `after a kill at ${delay} ms: ${next.stderr}`);
  }
  slowJson(N, ['mesh', 'restore', backupFile]);
  assert.is(existsSync(data(N, '.restore-staging')), false);
  assert.is(existsSync(data(N, '.restore-journal.json')), false);
  for (const u of USERS) assert.ok(await eventually(async () => (await imapCount(u, PORTS.imap)) === u.messages, 15_000), u.email);
});


test('a restore killed after the swap, before the daemons run again: the next tick starts them on the restored data', async () => {
  // The CLI names each step on stderr as it begins; "converging and starting" follows the swap.
  let journalLeft = false;
  for (let attempt = 0; attempt < 3 && !journalLeft; attempt++) {
    const child = spawn(MAILCTL, ['mesh', 'restore', backupFile], { env: { ...process.env, MAILSERVER_ROOT: N }, stdio: ['ignore', 'ignore', 'pipe'] });
    const closed = new Promise((r) => child.once('close', r));
    let steps = '';
    child.stderr.on('data', (d) => {
      steps += d;
      if (steps.includes('converging and starting')) child.kill('SIGKILL');
    });
    await closed;
    journalLeft = existsSync(data(N, '.restore-journal.json'));
  }
  assert.ok(journalLeft, 'three kills after "converging and starting" all came after the daemons ran again');
  // The restore had stopped the daemons, which made the server unwanted: only the journal says to start them.
  ok(N, ['tick']);
  assert.is(existsSync(data(N, '.restore-journal.json')), false, 'tick left the journal');
  for (const u of USERS) assert.ok(await eventually(async () => (await imapCount(u, PORTS.imap)) === u.messages, 15_000), u.email);
});

test.run();
