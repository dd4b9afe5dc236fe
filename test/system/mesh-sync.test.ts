// Sync to peers that cannot read what they hold: node A (3 mailboxes, an alias, DKIM, a
// certificate, 500 messages) pushes with restic over SFTP to a real OpenSSH server (the peer: an
// sshd this test starts on loopback with its own host key, SFTP only, into a folder of the
// sandbox); node B (another sandbox root, its own daemons and ports) pulls A's snapshot with
// --apply and then serves A's mail with A's passwords, signs with A's DKIM key and presents A's
// certificate. Faults: a peer that is down, a peer whose host key changed, SIGKILL of the pull.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, type Sandbox } from '../support/sandbox.ts';
import { MAILCTL, mailctl, ok } from '../support/mailctl.ts';
import { H, TOKEN, USERS, json, slow, slowJson, data, imapCount, signedVerdicts, dkimRecords, startTwoNodes } from '../support/mesh-nodes.ts';

const PORTS_B = { smtp: 11025, submission: 11587, smtps: 11465, imap: 11143, imaps: 11993, pop3: 11110, pop3s: 11995, sieve: 14191 };
const PEER_PORT = 12222;
const SPARE_PORT = 12223;
const boxes: Sandbox[] = [];
const sandbox = () => {
  const b = makeSandbox('mailserver-mesh-sync-', '/run');
  boxes.push(b);
  return b.root;
};
const A = sandbox();
const B = sandbox();
/** The peer's side: sshd's files and the SFTP folder the repositories land in. */
const P = sandbox();
const PEER = `root@127.0.0.1:${PEER_PORT}`;
const SPARE = `root@127.0.0.1:${SPARE_PORT}`;
const daemons = new Map<number, ChildProcess>();
let firstPushBytes = 0;

/** An OpenSSH server on loopback: its own host key, our nodes' keys, SFTP only, into `folder`. */
async function startPeer(port: number, hostKey: string, folder: string): Promise<void> {
  mkdirSync(folder, { recursive: true });
  // sshd's compiled-in privilege separation folder.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const config = join(P, `sshd-${port}.conf`);
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(P, `sshd-${port}.pid`)}`,
      `AuthorizedKeysFile ${join(P, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The sandbox folders are not root-only all the way up.
      'StrictModes no',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'Subsystem sftp internal-sftp',
      `ForceCommand internal-sftp -d ${folder}`,
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d) => appendFileSync(join(P, `sshd-${port}.log`), d));
  daemons.set(port, child);
  await waitForPort(H, port, 15_000);
}

async function stopPeer(port: number): Promise<void> {
  const child = daemons.get(port);
  if (!child) return;
  daemons.delete(port);
  child.kill('SIGTERM');
  if (child.exitCode === null) await new Promise((r) => child.once('close', r));
}

/** `mesh sync push` on A: its --json result, whatever the exit status (a failed peer makes it 1). */
function push(): { code: number; result: { ok: boolean; peers: { peer: string; ok: boolean; error?: string; bytesAdded: number; bytesProcessed: number; snapshots: number }[] } } {
  const r = slow(A, ['mesh', 'sync', 'push', '--json']);
  try {
    return { code: r.code, result: JSON.parse(r.stdout) };
  } catch {
    throw new Error(`mesh sync push exited ${r.code}: ${r.stderr}`);
  }
}

function hostKey(name: string): string {
  const path = join(P, name);
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  return path;
}

/** Every file of a folder, whole (the repository as the peer's owner sees it). */
function everyFile(dir: string): Buffer[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath ?? e.path, e.name)));
}

const repository = () => join(P, 'sftp', 'secubox-mailserver', 'mail.example.com');

test.before(async () => {
  try {
    if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
    for (const tool of ['restic', 'ssh', 'ssh-keygen', '/usr/sbin/sshd']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing: run scripts/setup.sh`);
    }
    await startTwoNodes(A, B, PORTS_B);
    await startPeer(PEER_PORT, hostKey('host-key'), join(P, 'sftp'));
    await startPeer(SPARE_PORT, hostKey('spare-host-key'), join(P, 'spare'));
  } catch (e) {
    console.error('set-up failed:', e);
    throw e;
  }
});

test.after(async () => {
  for (const root of [A, B]) mailctl(root, ['stop']);
  for (const port of [...daemons.keys()]) await stopPeer(port);
  for (const b of boxes) b.cleanup();
});

test('mesh enable makes the node key pair and the repository password, 0600 in secrets/', () => {
  for (const root of [A, B]) {
    const r = json(root, ['mesh', 'enable']);
    assert.is(r.enabled, true);
    assert.match(r.publicKey, /^ssh-ed25519 /);
    for (const f of ['mesh-ssh.key', 'mesh-sync.password']) assert.is(statSync(data(root, 'secrets', f)).mode & 0o777, 0o600, f);
    // The peer's owner authorizes the node's key.
    appendFileSync(join(P, 'authorized_keys'), `${r.publicKey}\n`);
  }
  const exported = json(A, ['mesh', 'key', 'export']);
  assert.is(exported.repositoryPassword, readFileSync(data(A, 'secrets/mesh-sync.password'), 'utf8').trim());
  // enable again keeps what exists.
  const key = readFileSync(data(A, 'secrets/mesh-ssh.key'));
  json(A, ['mesh', 'enable']);
  assert.ok(readFileSync(data(A, 'secrets/mesh-ssh.key')).equals(key));
  assert.is(json(A, ['mesh', 'key', 'export']).repositoryPassword, exported.repositoryPassword);
});

test('add-peer pins the host key in our own known_hosts', () => {
  const r = json(A, ['mesh', 'add-peer', PEER]);
  assert.equal(r.peers, [PEER]);
  const pinned = readFileSync(data(A, 'secrets/mesh-known_hosts'), 'utf8');
  const hostPublic = readFileSync(join(P, 'host-key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  assert.ok(pinned.includes(`[127.0.0.1]:${PEER_PORT} ${hostPublic}`), pinned);
  json(A, ['mesh', 'add-peer', SPARE]);
  // A peer that does not answer now is added; its key is pinned at its first push.
  const later = json(A, ['mesh', 'add-peer', 'root@127.0.0.1:12299']);
  assert.match(later.hostKey, /not pinned yet .*unreachable/);
  ok(A, ['mesh', 'remove-peer', 'root@127.0.0.1:12299']);
  assert.equal(json(A, ['mesh', 'peers']).peers, [PEER, SPARE]);
});

test('push: each peer gets an encrypted repository of A; it holds no message text and no key in clear', () => {
  const { result: r } = push();
  assert.is(r.ok, true, JSON.stringify(r));
  assert.equal(r.peers.map((p: { peer: string; ok: boolean }) => `${p.peer} ${p.ok}`), [`${PEER} true`, `${SPARE} true`]);
  const first = r.peers[0]!;
  assert.ok(first.bytesAdded > 1_000_000, `only ${first.bytesAdded} bytes added`);
  assert.is(first.snapshots, 1);
  firstPushBytes = first.bytesAdded;
  const files = everyFile(repository());
  assert.ok(files.length > 5);
  assert.is(files.some((b) => b.includes(TOKEN)), false, 'a message text is readable on the peer');
  assert.is(files.some((b) => b.includes('PRIVATE KEY')), false, 'a private key is readable on the peer');
  assert.is(files.some((b) => b.includes('alice@example.com')), false);
  // The same mail does hold the token: the check above can fail.
  assert.ok(readdirSync(data(A, 'mail/example.com/carol/new')).some((n) => readFileSync(data(A, 'mail/example.com/carol/new', n)).includes(TOKEN)));
  const peers = json(A, ['mesh', 'peers']).resolved;
  assert.is(peers[0].reachable, true, JSON.stringify(peers[0]));
  assert.is(peers[0].lastPush.ok, true);
  assert.is(peers[0].snapshots, 1);
  // restic compresses (the filler text shrinks a lot): stored bytes, not processed ones.
  assert.ok(peers[0].repositoryBytes > 0 && peers[0].repositoryBytes < first.bytesProcessed, JSON.stringify(peers[0]));
});

test('one more message: the next push adds less than 1 % of the first (restic statistics)', async () => {
  const subject = `one more ${TOKEN}`;
  const sent = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: USERS[0]!.email, password: USERS[0]!.password, from: USERS[0]!.email, to: [USERS[2]!.email], subject, body: 'one more' });
  assert.is(sent.ok, true, JSON.stringify(sent));
  assert.ok(await eventually(async () => (await imapCount(USERS[2]!, 143)) === USERS[2]!.messages + 1, 20_000, 500));
  const { result: r } = push();
  assert.is(r.ok, true, JSON.stringify(r));
  const added = r.peers[0]!.bytesAdded as number;
  assert.ok(added > 0, 'the new message was not pushed');
  assert.ok(added < firstPushBytes / 100, `${added} bytes added, first push ${firstPushBytes}`);
  assert.is(r.peers[0]!.snapshots, 2);
});

test('a peer that is down or whose host key changed fails alone; the other still gets its copy', async () => {
  try {
    await peerFaults();
  } finally {
    mailctl(A, ['mesh', 'remove-peer', SPARE]);
  }
});

async function peerFaults() {
  await stopPeer(SPARE_PORT);
  const { code, result: downResult } = push();
  assert.is(code, 1);
  assert.is(downResult.peers[0]!.ok, true, JSON.stringify(downResult.peers[0]));
  assert.is(downResult.peers[1]!.ok, false);
  assert.match(downResult.peers[1]!.error ?? '', /unreachable/, downResult.peers[1]!.error);
  // The spare comes back with another host key (reinstalled, or someone in between).
  await startPeer(SPARE_PORT, hostKey('other-host-key'), join(P, 'spare'));
  const { result: changedResult } = push();
  assert.is(changedResult.peers[0]!.ok, true);
  assert.is(changedResult.peers[1]!.ok, false);
  assert.match(changedResult.peers[1]!.error ?? '', /host key .* not the one pinned/, changedResult.peers[1]!.error);
  const peers = json(A, ['mesh', 'peers']).resolved;
  assert.is(peers[1].reachable, false);
  assert.is(peers[1].lastPush.ok, false);
}

test('mesh verify: restic check and one mailbox really restored and compared with the manifest', () => {
  const r = slowJson(A, ['mesh', 'verify']);
  assert.is(r.ok, true, JSON.stringify(r));
  assert.is(r.peers.length, 1);
  assert.ok(USERS.some((u) => u.email === r.peers[0].mailbox), JSON.stringify(r.peers[0]));
  assert.ok(r.peers[0].messages >= 50);
  assert.is(existsSync(data(A, '.sync-verify')), false);
  const shown = json(A, ['mesh', 'peers']);
  assert.is(shown.verify.ok, true);
  assert.match(mailctl(A, ['mesh', 'peers']).stdout, /last verified restore: .*, OK/);
});

test('tick starts a push (a job) once mesh.sync_interval has passed since the last one', async () => {
  const before = json(A, ['mesh', 'peers']).resolved[0].snapshots as number;
  assert.equal(json(A, ['tick']).mesh, {}, 'pushed although the last push is seconds old');
  // As if the last push were two hours old (mesh.sync_interval is an hour).
  const file = data(A, 'state/mesh-sync.json');
  const state = JSON.parse(readFileSync(file, 'utf8'));
  for (const p of Object.values(state.peers) as { lastPush: { at: string } }[]) p.lastPush.at = new Date(Date.now() - 7_200_000).toISOString();
  writeFileSync(file, JSON.stringify(state));
  // mesh.enabled=0: tick never pushes.
  json(A, ['mesh', 'disable']);
  assert.equal(json(A, ['tick']).mesh, {});
  json(A, ['mesh', 'enable']);
  const tick = json(A, ['tick']);
  assert.is(tick.mesh.started, 'mesh_sync', JSON.stringify(tick.mesh));
  assert.ok(await eventually(async () => json(A, ['job', 'status', tick.mesh.job]).state !== 'running', 300_000, 2000), 'the push job did not end');
  const job = json(A, ['job', 'status', tick.mesh.job]);
  assert.is(job.state, 'done', JSON.stringify(job));
  assert.is(json(A, ['mesh', 'peers']).resolved[0].snapshots, before + 1);
});

let certificateOfA = '';
let dkimRecordsOfA: Record<string, string> = {};
let passwordOfA = '';

test('node A dies; B pulls its latest snapshot with --apply and serves A mail with A passwords', async () => {
  certificateOfA = json(A, ['ssl-status']).certificate.fingerprint256;
  dkimRecordsOfA = dkimRecords(A);
  passwordOfA = json(A, ['mesh', 'key', 'export']).repositoryPassword;
  ok(A, ['stop']);
  json(B, ['mesh', 'add-peer', PEER]);
  // Without A's password, B cannot read A's repository.
  const wrong = slow(B, ['mesh', 'sync', 'pull', 'mail.example.com', '--apply']);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /password/);
  assert.ok(await eventually(async () => (await imapCount({ email: 'zed@example.com', password: 'zed-pass-4444' }, PORTS_B.imap)) === 0, 5000));

  const expected = { ...Object.fromEntries(USERS.map((u) => [u.email, u.messages])), [USERS[2]!.email]: USERS[2]!.messages + 1 };
  // Without --apply: restored, counted, and the copy removed; B keeps its own data.
  const checked = JSON.parse(pull([]).stdout);
  assert.equal([checked.applied, checked.mailboxes], [false, expected]);
  assert.is(existsSync(data(B, '.sync-pull')), false);
  assert.is(await imapCount({ email: 'zed@example.com', password: 'zed-pass-4444' }, PORTS_B.imap), 0);

  const r = JSON.parse(pull(['--apply']).stdout);
  assert.is(r.ok, true, JSON.stringify(r.selfCheck));
  assert.is(r.applied, true);
  assert.equal(r.mailboxes, expected);
  await waitForPort(H, PORTS_B.imap, 15_000);
  for (const u of USERS) assert.ok(await eventually(async () => (await imapCount(u, PORTS_B.imap)) === expected[u.email], 15_000), u.email);
  const zed = await runMailClient({ action: 'imap_login', host: H, port: PORTS_B.imap, tls: 'starttls', user: 'zed@example.com', password: 'zed-pass-4444' });
  assert.is(zed.ok, false);
  assert.is(existsSync(data(B, '.sync-pull')), false);
});

function pull(extra: string[]) {
  const r = spawnSync(MAILCTL, ['mesh', 'sync', 'pull', 'mail.example.com', '--password-stdin', '--json', ...extra], { env: { ...process.env, MAILSERVER_ROOT: B }, input: `${passwordOfA}\n`, encoding: 'utf8', timeout: 600_000 });
  assert.is(r.status, 0, r.stderr);
  return r;
}

test('B presents A certificate and signs with A DKIM key (python3-dkim verifies)', async () => {
  const b = json(B, ['ssl-status']);
  assert.is(b.certificate.fingerprint256, certificateOfA);
  const verdicts = await signedVerdicts(PORTS_B, dkimRecordsOfA);
  assert.ok(verdicts.length > 0, 'the message carries no DKIM signature');
  assert.equal(verdicts, verdicts.map(() => true));
});

test('SIGKILL of the pull at any point: B keeps serving, and the next pull works', async () => {
  const bob = USERS[1]!;
  const bobHas = await imapCount(bob, PORTS_B.imap);
  for (const delay of [300, 1200, 3000]) {
    const child = spawn(MAILCTL, ['mesh', 'sync', 'pull', 'mail.example.com', '--apply', '--password-stdin'], { env: { ...process.env, MAILSERVER_ROOT: B }, stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin!.end(`${passwordOfA}\n`);
    // Waited for from the start: on a fast machine the pull may end before the kill.
    const closed = new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await closed;
    // Killed outside the swap: the daemons were never stopped.
    if (!existsSync(data(B, '.restore-journal.json'))) {
      assert.ok(await eventually(async () => (await imapCount(USERS[0]!, PORTS_B.imap)) >= 0, 15_000), `B stopped serving after a kill at ${delay} ms`);
    }
    // The next command is not blocked.
    assert.is(slow(B, ['mesh', 'peers']).code, 0);
  }
  const r = JSON.parse(pull(['--apply']).stdout);
  assert.is(r.ok, true, JSON.stringify(r.selfCheck));
  assert.is(existsSync(data(B, '.sync-pull')), false);
  assert.is(existsSync(data(B, '.restore-journal.json')), false);
  // The message B signed is not in A's snapshot: the pulled data replaced it (kept for --undo).
  assert.ok(await eventually(async () => (await imapCount(bob, PORTS_B.imap)) === bobHas - 1, 15_000));
});

test('mesh verify reports a damaged repository', () => {
  // Bytes flipped all through every pack file: whichever mailbox the drill picks, its data is hit.
  const packs = readdirSync(join(repository(), 'data'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  assert.ok(packs.length > 0);
  for (const e of packs) {
    const path = join(e.parentPath ?? e.path, e.name);
    const bytes = readFileSync(path);
    for (let i = 0; i < bytes.length; i += 64) bytes[i] = bytes[i]! ^ 0xff;
    writeFileSync(path, bytes);
  }
  const r = slow(A, ['mesh', 'verify', '--json']);
  assert.is(r.code, 1, r.stdout);
  const result = JSON.parse(r.stdout);
  assert.is(result.ok, false);
  assert.ok(result.peers[0].error.length > 0);
  assert.match(mailctl(A, ['mesh', 'peers']).stdout, /last verified restore: .*, FAILED: /);
});

test.run();
