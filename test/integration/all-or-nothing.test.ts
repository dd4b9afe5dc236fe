// Writes are all-or-nothing across files. On a full disk (data_path on an 8 MiB tmpfs filled to
// the last byte, UCI on another filesystem, as on a router with data on USB storage) every write
// method fails with an error naming the file and the free space, and leaves UCI, the store, the
// maps and the mail tree byte-identical. And a multi-file write (UCI + store + maps) SIGKILLed at
// a random point is seen by the next command as wholly done or not done at all.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { tableType } from '../support/postfix-tables.ts';
import { mailctl, mailctlKilledAfter, ok, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox('mailserver-full-');
const root = box.root;
const data = join(root, 'srv/mailserver');
const filler = join(data, 'filler');
let mounted = false;

test.after(() => {
  if (mounted) spawnSync('umount', ['-l', data]);
  box.cleanup();
});

/**
 * The settings a process leaves for the next, keyed by the very text of the UCI file
 * (sys/run-memo.ts): a write that committed UCI and then failed may leave them for the text it
 * wrote, which the restored file no longer has, so they are never read. Not the server's state.
 */
const memo = join(root, 'var/run/mailserver/settings.json');

/** Every file and directory under the root: path → mode, owner and content hash (the filler and the memo aside). */
function snapshot(dir = root, out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (path === filler || path === memo) continue;
    const st = lstatSync(path);
    const what = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? `link ${readlinkSync(path)}` : createHash('sha256').update(readFileSync(path)).digest('hex');
    out[path.slice(root.length)] = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`;
    if (st.isDirectory()) snapshot(path, out);
  }
  return out;
}

/** Fill data_path's filesystem to the last byte. */
function fill(): void {
  const chunk = Buffer.alloc(1024 * 1024, 1);
  for (const size of [chunk.length, 4096, 1]) {
    try {
      for (;;) writeFileSync(filler, chunk.subarray(0, size), { flag: 'a' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    }
  }
}

/** The server's state a person relies on; each write method below changes part of it. */
function seed(): void {
  writeConfig(root, { extraDomains: ['example.org', 'spare.example'] });
  ok(root, ['apply']);
  ok(root, ['user', 'add', 'anna@example.com', '--password-stdin'], 'anna-password-1\n');
  ok(root, ['user', 'add', 'ben@example.org', '--password-stdin'], 'ben-password-22\n');
  ok(root, ['alias', 'add', 'info@example.com', 'anna@example.com']);
  ok(root, ['relay', 'set', '[smtp.example.net]:587', '--user', 'relayuser', '--password-stdin'], 'relay-password-1\n');
}

const WRITES: { args: string[]; input?: string }[] = [
  { args: ['user', 'add', 'new@example.com', '--password-stdin'], input: 'new-password-123\n' },
  { args: ['user', 'del', 'ben@example.org'] },
  { args: ['user', 'del', 'ben@example.org', '--purge'] },
  { args: ['user', 'passwd', 'anna@example.com', '--password-stdin'], input: 'anna-password-2\n' },
  { args: ['user', 'quota', 'anna@example.com', '1G'] },
  { args: ['alias', 'add', 'sales@example.com', 'anna@example.com'] },
  { args: ['alias', 'del', 'info@example.com'] },
  { args: ['domain', 'add', 'third.example'] },
  { args: ['domain', 'del', 'spare.example'] },
  { args: ['relay', 'set', '[other.example.net]:2525', '--user', 'someone', '--password-stdin'], input: 'other-password-1\n' },
  { args: ['relay', 'clear'] },
];

test('on a full disk every write method fails naming the file and the free space, and changes nothing', () => {
  mkdirSync(data, { recursive: true });
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', data], { encoding: 'utf8' });
  assert.is(mount.status, 0, `mount tmpfs: ${mount.stderr}`);
  mounted = true;
  seed();
  fill();
  const before = snapshot();
  for (const w of WRITES) {
    const r = mailctl(root, w.args, w.input ?? '');
    const what = `mailctl ${w.args.join(' ')}`;
    assert.is(r.code, 1, `${what} must fail on a full disk: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /no space left to write \/\S+ \(\d+ KiB free/, `${what}: names the file and the free space: ${r.stderr}`);
    const after = snapshot();
    const changed = Object.keys({ ...before, ...after }).filter((k) => before[k] !== after[k]);
    assert.equal(changed, [], `${what} changed files: ${r.stderr}`);
  }
  // With room again, each of them works (the errors were about space, nothing else).
  rmSync(filler);
  for (const w of WRITES) if (!w.args.includes('--purge')) ok(root, w.args, w.input ?? '');
});

/**
 * What the next command sees (a read first: it waits for a killed write to be undone): the extra
 * domain in UCI and in the domain map, the relay host in UCI and its credentials in secrets/.
 */
function consistent(when: string): void {
  const relay = JSON.parse(ok(root, ['relay', 'show', '--json']).stdout) as { relayhost: string | null; user: string | null };
  const uci = readFileSync(join(root, 'etc/config/mailserver'), 'utf8');
  const inUci = /list extra_domain 'kill\.example'/.test(uci);
  const vdomains = readFileSync(join(data, 'config/vdomains'), 'utf8').split('\n').some((l) => l.startsWith('kill.example '));
  const query = spawnSync('postmap', ['-c', join(data, 'config/postfix'), '-q', 'kill.example', `${tableType(join(data, 'config'))}:${join(data, 'config/vdomains')}`]);
  assert.is(vdomains, inUci, `${when}: vdomains source and UCI disagree about kill.example`);
  assert.is(query.status === 0, inUci, `${when}: vdomains database and UCI disagree about kill.example`);
  const credentials = existsSync(join(data, 'secrets/relay-credentials'));
  assert.is(relay.relayhost !== null, credentials, `${when}: relay host ${relay.relayhost} with credentials ${credentials}`);
  if (relay.relayhost) assert.is(relay.user, `user-${relay.relayhost.slice(1, relay.relayhost.indexOf('.'))}`, `${when}: credentials of another relay host`);
}

test('200 multi-file writes SIGKILLed at random points: the next command sees the old or the new state', async () => {
  if (mounted) {
    spawnSync('umount', ['-l', data]);
    mounted = false;
  }
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true, mode: 0o755 });
  writeConfig(root);
  ok(root, ['apply']);
  // How long one such write takes here: kills spread over 0 .. 1.3 times that.
  const t = Date.now();
  ok(root, ['domain', 'add', 'kill.example']);
  ok(root, ['domain', 'del', 'kill.example']);
  const typical = (Date.now() - t) / 2;
  let killed = 0;
  for (let i = 0; i < 200; i++) {
    const relayhost = `[r${i}.example.net]:587`;
    const op = [
      { args: ['domain', 'add', 'kill.example'], input: '' },
      { args: ['domain', 'del', 'kill.example'], input: '' },
      { args: ['relay', 'set', relayhost, '--user', `user-r${i}`, '--password-stdin'], input: `relay-pass-${i}\n` },
      { args: ['relay', 'clear'], input: '' },
    ][i % 4]!;
    if (await mailctlKilledAfter(root, op.args, op.input, Math.random() * typical * 1.3)) killed++;
    consistent(`after killing \`${op.args.join(' ')}\` (${i})`);
  }
  assert.ok(killed >= 50, `only ${killed} of 200 writes were killed`);
  process.stdout.write(`  ${killed} of 200 multi-file writes killed (a write takes ~${Math.round(typical)} ms here)\n`);
});

test.run();
