// Backups that restore: node A (3 mailboxes, an alias, DKIM, a certificate, 500 messages) writes
// an encrypted backup; node B (another sandbox root, its own daemons on its own ports) restores
// it and then serves A's mail with A's passwords, signs with A's DKIM key and presents A's
// certificate. Damaged, truncated, hostile, foreign-key and newer-format files are refused
// before anything is written; a full disk and SIGKILL mid-restore leave B serving its own data.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, lstatSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync, writeSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, type Sandbox } from '../support/sandbox.ts';
import { setUci } from '../support/dns.ts';
import { MAILCTL, mailctl, ok, writeConfig } from '../support/mailctl.ts';

const H = '127.0.0.1';
const TOKEN = `ZEBRA${randomBytes(6).toString('hex')}`;
const USERS = [
  { email: 'alice@example.com', password: 'alice-pass-1', messages: 300 },
  { email: 'bob@example.com', password: 'bob-pass-22', messages: 150 },
  { email: 'carol@example.com', password: 'carol-pass-333', messages: 50 },
];
const PORTS_B = { smtp: 10025, submission: 10587, smtps: 10465, imap: 10143, imaps: 10993, pop3: 10110, pop3s: 10995, sieve: 14190 };
// OpenDKIM refuses keys below a world-writable directory (/tmp): the sandboxes live in /run.
const boxes: Sandbox[] = [];
const sandbox = () => {
  const b = makeSandbox('mailserver-mesh-', '/run');
  boxes.push(b);
  return b.root;
};
const A = sandbox();
const B = sandbox();
let backupFile = '';
/** What A looked like before it died. */
let certificateOfA = '';
let dkimRecordsOfA: Record<string, string> = {};

const json = (root: string, args: string[], input = '') => JSON.parse(ok(root, [...args, '--json'], input).stdout);
const data = (root: string, ...p: string[]) => join(root, 'srv/mailserver', ...p);

interface FileState {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  target?: string;
}

/**
 * Every entry under the data_path folders a backup holds: type, mode, owner and content hash.
 * In maildirs, Dovecot's own index files are left out and a message is keyed by its unique base
 * name, not by new/ or cur/ and flags: Dovecot moves it from new/ to cur/ when it first looks.
 */
function snapshot(root: string, folders = ['config', 'secrets', 'ssl', 'mail']): Map<string, FileState> {
  const out = new Map<string, FileState>();
  const walk = (rel: string) => {
    const path = data(root, rel);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return;
    const name = rel.split('/').pop()!;
    if (rel.startsWith('mail/') && name.startsWith('dovecot')) return;
    const state: FileState = { type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isFile()) state.sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
    if (st.isSymbolicLink()) state.target = readlinkSync(path);
    const message = /^(mail\/.*)\/(?:cur|new)\/([^:/]+)(?::[^/]*)?$/.exec(rel);
    out.set(message ? `${message[1]}/message ${message[2]}` : rel, state);
    if (st.isDirectory()) for (const n of readdirSync(path).sort()) walk(`${rel}/${n}`);
  };
  for (const f of folders) walk(f);
  return out;
}

function differences(a: Map<string, FileState>, b: Map<string, FileState>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k))).sort();
}

/** Files converge writes from the settings (they hold each root's own paths), not data. */
const rendered = (path: string) => /^config\/(postfix|dovecot|opendkim|rspamd)(\/|$)/.test(path) || /^config\/[^/]+\.(cdb|lmdb|db)$/.test(path);

/** A Dovecot-named maildir file straight into new/ (as LMTP would leave it). */
function writeMessages(root: string, email: string, count: number): void {
  const [local, domain] = email.split('@') as [string, string];
  const dir = data(root, 'mail', domain, local, 'new');
  for (let i = 0; i < count; i++) {
    const body = `Message ${i} for ${email}. ${TOKEN} ${'lorem ipsum dolor sit amet '.repeat(400 + (i % 7) * 50)}\n`;
    const raw = `From: sender@example.net\nTo: ${email}\nSubject: filler ${i}\nMessage-ID: <${i}.${local}@example.net>\n\n${body}`;
    const name = `${1_700_000_000 + i}.M${i}P1.mesh-test,S=${Buffer.byteLength(raw)}`;
    writeFileSync(join(dir, name), raw, { mode: 0o600 });
    chownSync(join(dir, name), 5000, 5000);
  }
}

const imapCount = async (user: { email: string; password: string }, port: number) => {
  const r = await runMailClient({ action: 'imap_fetch', host: H, port, tls: 'starttls', user: user.email, password: user.password });
  return r.ok ? r.messages.length : -1;
};

function dkimVerify(raw: string, records: Record<string, string>): boolean[] {
  const code = `
import sys, json, dkim, email
data = json.loads(sys.stdin.read())
msg = data['raw'].encode()
records = data['records']
def dns(name, timeout=5):
    v = records.get(name.decode().rstrip('.'))
    return v.encode() if v else None
heads = email.message_from_bytes(msg).get_all('DKIM-Signature') or []
print(json.dumps([bool(dkim.DKIM(msg).verify(idx=i, dnsfunc=dns)) for i in range(len(heads))]))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify({ raw, records }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dkim verify: ${r.stderr}`);
  return JSON.parse(r.stdout) as boolean[];
}

function dkimRecords(root: string): Record<string, string> {
  const keys = json(root, ['dkim', 'show']).keys as { record: { name: string; value: string } }[];
  return Object.fromEntries(keys.map((k) => [k.record.name.replace(/\.$/, ''), k.record.value]));
}

/** A plain tar whose entries python's tarfile writes exactly as told (hostile names, links). */
function craftTar(path: string, entries: { name: string; data?: string; symlink?: string; dir?: boolean }[]): void {
  const code = `
import sys, json, tarfile, io
spec = json.loads(sys.stdin.read())
with tarfile.open(spec['path'], 'w', format=tarfile.PAX_FORMAT) as t:
    for e in spec['entries']:
        i = tarfile.TarInfo(e['name'])
        if e.get('symlink'):
            i.type = tarfile.SYMTYPE; i.linkname = e['symlink']; t.addfile(i)
        elif e.get('dir'):
            i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
        else:
            b = e.get('data', '').encode(); i.size = len(b); i.mode = 0o644; t.addfile(i, io.BytesIO(b))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify({ path, entries }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`craft tar: ${r.stderr}`);
}

// uvu reports a failing before hook only as failed tests: say why.
test.before(async () => {
  try {
    await setUp();
  } catch (e) {
    console.error('set-up failed:', e);
    throw e;
  }
});

async function setUp() {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(A, { dkim: true, spamFilter: false });
  ok(A, ['start']);
  await waitForPort(H, 143, 15_000);
  for (const u of USERS) ok(A, ['user', 'add', u.email, '--password-stdin'], `${u.password}\n`);
  ok(A, ['alias', 'add', 'team@example.com', 'alice@example.com,bob@example.com']);
  for (const u of USERS) writeMessages(A, u.email, u.messages);

  // Both would run OpenDKIM on its fixed loopback port: B signs only once A's settings arrive,
  // and A is stopped (the router that died) before B restores.
  writeConfig(B, { ports: PORTS_B });
  ok(B, ['start']);
  await waitForPort(H, PORTS_B.imap, 15_000);
  ok(B, ['user', 'add', 'zed@example.com', '--password-stdin'], 'zed-pass-4444\n');
}

test.after(() => {
  for (const root of [A, B]) mailctl(root, ['stop']);
  for (const b of boxes) b.cleanup();
});

test('mesh backup writes one encrypted file with every message and no secret or text in clear', () => {
  const r = json(A, ['mesh', 'backup']);
  backupFile = r.file;
  assert.ok(backupFile.startsWith(data(A, 'backups/')), backupFile);
  assert.is(r.encrypted, true);
  assert.equal(r.messages, Object.fromEntries(USERS.map((u) => [u.email, u.messages])));
  assert.is(statSync(backupFile).mode & 0o777, 0o600);
  const bytes = readFileSync(backupFile);
  assert.ok(bytes.subarray(0, 22).toString() === 'age-encryption.org/v1\n');
  assert.is(bytes.includes(TOKEN), false, 'a message text is readable in the backup');
  assert.is(bytes.includes('PRIVATE KEY'), false, 'a private key is readable in the backup');
  assert.is(bytes.includes('alice@example.com'), false);
  assert.is(statSync(data(A, 'secrets/mesh-backup.key')).mode & 0o777, 0o600);
  // The same backup without encryption does hold them: the checks above can fail.
  const plain = join(A, 'plain.tar');
  ok(A, ['mesh', 'backup', '--output', plain, '--no-encrypt']);
  assert.ok(readFileSync(plain).includes(TOKEN));
  rmSync(plain);
});

test('mesh.keep: only the newest backups stay', () => {
  setUci(A, 'mesh', 'keep', '2');
  const made = [json(A, ['mesh', 'backup']).file, json(A, ['mesh', 'backup']).file];
  const listed = json(A, ['mesh', 'backups']).backups.map((b: { file: string }) => b.file);
  assert.equal(listed, [...made].reverse());
  assert.is(existsSync(backupFile), false);
  backupFile = made[1];
  setUci(A, 'mesh', 'keep', null);
});

test('node A dies', () => {
  certificateOfA = json(A, ['ssl-status']).certificate.fingerprint256;
  dkimRecordsOfA = dkimRecords(A);
  assert.ok(Object.keys(dkimRecordsOfA).length > 0);
  ok(A, ['stop']);
});

test('restore on B: every file byte-identical with modes and owners; B serves A mail with A passwords', async () => {
  const key = json(A, ['mesh', 'key', 'export']).key as string;
  ok(B, ['mesh', 'key', 'import', '--password-stdin'], `${key}\n`);
  const dry = json(B, ['mesh', 'restore', backupFile, '--dry-run']);
  assert.is(dry.node, 'mail.example.com');
  assert.is(dry.dryRun, true);
  assert.ok(dry.replaces.includes(data(B, 'mail')));
  assert.ok(await eventually(async () => (await imapCount({ email: 'zed@example.com', password: 'zed-pass-4444' }, PORTS_B.imap)) === 0, 5000));

  const r = json(B, ['mesh', 'restore', backupFile]);
  assert.is(r.ok, true, JSON.stringify(r.selfCheck));
  assert.equal(r.selfCheck.map((c: { email: string; messages: number }) => `${c.email} ${c.messages}`).sort(), USERS.map((u) => `${u.email} ${u.messages}`).sort());
  const differ = differences(snapshot(A), snapshot(B)).filter((p) => !rendered(p));
  assert.equal(differ, []);
  await waitForPort(H, PORTS_B.imap, 15_000);
  for (const u of USERS) assert.ok(await eventually(async () => (await imapCount(u, PORTS_B.imap)) === u.messages, 15_000), u.email);
  // B's own mailbox went with B's old data (kept for --undo).
  const zed = await runMailClient({ action: 'imap_login', host: H, port: PORTS_B.imap, tls: 'starttls', user: 'zed@example.com', password: 'zed-pass-4444' });
  assert.is(zed.ok, false);
  assert.ok(existsSync(join(r.previous, 'data/config/users')));
});

test('mesh restore --undo puts back what the restore replaced; restoring again brings A back', async () => {
  const restored = snapshot(B);
  const undo = json(B, ['mesh', 'restore', '--undo']);
  assert.ok(undo.previous.includes('restore-undone-'), undo.previous);
  assert.ok(await eventually(async () => (await imapCount({ email: 'zed@example.com', password: 'zed-pass-4444' }, PORTS_B.imap)) === 0, 15_000));
  assert.is(await imapCount(USERS[0]!, PORTS_B.imap), -1);
  json(B, ['mesh', 'restore', backupFile]);
  assert.equal(differences(restored, snapshot(B)).filter((p) => !rendered(p)), []);
  assert.ok(await eventually(async () => (await imapCount(USERS[0]!, PORTS_B.imap)) === USERS[0]!.messages, 15_000));
});

test('B presents A certificate and signs with A DKIM key (python3-dkim verifies)', async () => {
  const b = json(B, ['ssl-status']);
  assert.is(b.certificate.fingerprint256, certificateOfA);
  assert.ok(b.listeners.length > 0);
  assert.equal(b.listeners.filter((l: { state: string }) => l.state !== 'match'), []);
  const subject = `signed on B ${TOKEN}`;
  const sent = await runMailClient({ action: 'send', host: H, port: PORTS_B.submission, tls: 'starttls', user: USERS[0]!.email, password: USERS[0]!.password, from: USERS[0]!.email, to: [USERS[1]!.email], subject, body: 'hello' });
  assert.is(sent.ok, true, JSON.stringify(sent));
  let raw = '';
  const arrived = await eventually(async () => {
    const box = await runMailClient({ action: 'imap_fetch', host: H, port: PORTS_B.imap, tls: 'starttls', user: USERS[1]!.email, password: USERS[1]!.password });
    raw = (box.ok && box.messages.find((m) => m.subject === subject)?.raw) || '';
    return raw !== '';
  }, 20_000, 500);
  assert.ok(arrived, 'the signed message did not arrive');
  const verdicts = dkimVerify(raw, dkimRecordsOfA);
  assert.ok(verdicts.length > 0, 'the message carries no DKIM signature');
  assert.equal(verdicts, verdicts.map(() => true));
});

test('each bad file is refused before any write; B keeps serving its data', async () => {
  const before = snapshot(B);
  const cases: [string, string, RegExp][] = [];
  const flipped = join(B, 'flipped.age');
  copyFileSync(backupFile, flipped);
  const size = statSync(flipped).size;
  const at = Math.floor(size / 2);
  const fd = openSync(flipped, 'r+');
  writeSync(fd, Buffer.from([readFileSync(flipped)[at]! ^ 0x01]), 0, 1, at);
  closeSync(fd);
  cases.push(['one flipped byte', flipped, /damaged or truncated/]);
  const truncated = join(B, 'truncated.age');
  copyFileSync(backupFile, truncated);
  truncateSync(truncated, Math.floor(size * 0.7));
  cases.push(['truncated', truncated, /damaged or truncated|truncated/]);
  const header = (format: number) => ({ name: 'BACKUP.json', data: JSON.stringify({ format, node: 'evil.example', created: '2026-01-01T00:00:00.000Z' }) });
  const dotdot = join(B, 'dotdot.tar');
  craftTar(dotdot, [header(1), { name: 'data', dir: true }, { name: 'data/mail/../../../etc/passwd', data: 'x' }]);
  cases.push(['a ../ entry', dotdot, /leaves its folder/]);
  const link = join(B, 'link.tar');
  craftTar(link, [header(1), { name: 'data', dir: true }, { name: 'data/mail', dir: true }, { name: 'data/mail/evil', symlink: '/etc/shadow' }]);
  cases.push(['a symlink entry', link, /symlink/]);
  const absolute = join(B, 'absolute.tar');
  craftTar(absolute, [header(1), { name: '/etc/passwd', data: 'x' }]);
  cases.push(['an absolute path', absolute, /absolute path|unknown entry|leaves/]);
  const unknown = join(B, 'unknown.tar');
  craftTar(unknown, [header(1), { name: 'etc', dir: true }]);
  cases.push(['an unknown top-level entry', unknown, /unknown entry/]);
  const newer = join(B, 'newer.tar');
  craftTar(newer, [header(2)]);
  cases.push(['a newer format', newer, /format 2 is newer/]);

  for (const [what, file, reason] of cases) {
    const r = mailctl(B, ['mesh', 'restore', file]);
    assert.is(r.code, 1, `${what}: ${r.stdout}`);
    assert.match(r.stderr, reason, what);
    assert.equal(differences(before, snapshot(B)), [], `${what} changed B's data`);
    assert.is(existsSync(data(B, '.restore-staging')), false, what);
  }

  // Another node's key: refused with the reason, nothing touched.
  const ownKey = json(B, ['mesh', 'key', 'export']).key as string;
  ok(B, ['mesh', 'key', 'import', '--password-stdin'], 'a different passphrase of enough length\n');
  writeFileSync(data(B, 'secrets/mesh-backup.key.previous'), 'also not the right passphrase here\n', { mode: 0o600 });
  const withWrongKey = snapshot(B);
  const wrong = mailctl(B, ['mesh', 'restore', backupFile]);
  const afterWrong = snapshot(B);
  ok(B, ['mesh', 'key', 'import', '--password-stdin'], `${ownKey}\n`);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /cannot be decrypted/);
  assert.equal(differences(withWrongKey, afterWrong), []);
  assert.is(await imapCount(USERS[2]!, PORTS_B.imap), USERS[2]!.messages);
});

test('SIGKILL of the restore at any point: B holds either its old or the new data, and the next restore works', async () => {
  for (const delay of [150, 500, 1200, 2500]) {
    const before = snapshot(B);
    const child = spawn(MAILCTL, ['mesh', 'restore', backupFile], { env: { ...process.env, MAILSERVER_ROOT: B }, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    if (!existsSync(data(B, '.restore-journal.json'))) {
      const changed = differences(before, snapshot(B)).filter((p) => !rendered(p));
      assert.equal(changed, [], `killed after ${delay} ms outside the swap, yet B's data changed`);
    }
    const next = mailctl(B, ['mesh', 'restore', backupFile, '--json']);
    assert.is(next.code, 0, `after a kill at ${delay} ms: ${next.stderr}`);
    assert.is(existsSync(data(B, '.restore-staging')), false);
  }
  for (const u of USERS) assert.ok(await eventually(async () => (await imapCount(u, PORTS_B.imap)) === u.messages, 15_000), u.email);
});


test.run();
