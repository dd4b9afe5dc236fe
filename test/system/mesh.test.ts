// Backups that restore: node A (3 mailboxes, an alias, DKIM, a certificate, 500 messages) writes
// an encrypted backup; node B (another sandbox root, its own daemons on its own ports) restores
// it and then serves A's mail with A's passwords, signs with A's DKIM key and presents A's
// certificate; --undo puts B's own data back. Refused files, a full disk and SIGKILL:
// mesh-faults.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, type Sandbox } from '../support/sandbox.ts';
import { setUci } from '../support/dns.ts';
import { mailctl, ok } from '../support/mailctl.ts';
import { H, TOKEN, USERS, json, slowJson, data, snapshot, differences, rendered, imapCount, signedVerdicts, dkimRecords, startTwoNodes } from '../support/mesh-nodes.ts';

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
  await startTwoNodes(A, B, PORTS_B);
}

test.after(() => {
  for (const root of [A, B]) mailctl(root, ['stop']);
  for (const b of boxes) b.cleanup();
});

test('mesh backup writes one encrypted file with every message and no secret or text in clear', () => {
  const r = slowJson(A, ['mesh', 'backup']);
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
  slowJson(A, ['mesh', 'backup', '--output', plain, '--no-encrypt']);
  assert.ok(readFileSync(plain).includes(TOKEN));
  rmSync(plain);
});

test('mesh.keep: only the newest backups stay', () => {
  setUci(A, 'mesh', 'keep', '2');
  const made = [slowJson(A, ['mesh', 'backup']).file, slowJson(A, ['mesh', 'backup']).file];
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
  const dry = slowJson(B, ['mesh', 'restore', backupFile, '--dry-run']);
  assert.is(dry.node, 'mail.example.com');
  assert.is(dry.dryRun, true);
  assert.ok(dry.replaces.includes(data(B, 'mail')));
  assert.ok(await eventually(async () => (await imapCount({ email: 'zed@example.com', password: 'zed-pass-4444' }, PORTS_B.imap)) === 0, 5000));

  const r = slowJson(B, ['mesh', 'restore', backupFile]);
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
  const undo = slowJson(B, ['mesh', 'restore', '--undo']);
  assert.ok(undo.previous.includes('restore-undone-'), undo.previous);
  assert.ok(await eventually(async () => (await imapCount({ email: 'zed@example.com', password: 'zed-pass-4444' }, PORTS_B.imap)) === 0, 15_000));
  assert.is(await imapCount(USERS[0]!, PORTS_B.imap), -1);
  slowJson(B, ['mesh', 'restore', backupFile]);
  assert.equal(differences(restored, snapshot(B)).filter((p) => !rendered(p)), []);
  assert.ok(await eventually(async () => (await imapCount(USERS[0]!, PORTS_B.imap)) === USERS[0]!.messages, 15_000));
});

test('B presents A certificate and signs with A DKIM key (python3-dkim verifies)', async () => {
  const b = json(B, ['ssl-status']);
  assert.is(b.certificate.fingerprint256, certificateOfA);
  assert.ok(b.listeners.length > 0);
  assert.equal(b.listeners.filter((l: { state: string }) => l.state !== 'match'), []);
  const verdicts = await signedVerdicts(PORTS_B, dkimRecordsOfA);
  assert.ok(verdicts.length > 0, 'the message carries no DKIM signature');
  assert.equal(verdicts, verdicts.map(() => true));
});

test.run();
