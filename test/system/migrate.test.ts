// Upgrading a router that ran SecuBox's shell mailctl: its data_path (users with uid/gid/home
// fields, mail in <domain>/<user>/Maildir/, uid 1000, no format file) must come across with
// every message and every password intact, and real Postfix + Dovecot must then serve it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join, relative } from 'node:path';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, waitForSubject, type Sandbox } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';

const H = '127.0.0.1';
const LEGACY_UID = 1000;
const MAIL_UID = 5000;
const MAIL_GID = 5000;

interface LegacyUser {
  email: string;
  password: string;
  /** messages in Maildir/cur (seen, `:2,S`), Maildir/new, and Maildir/.Sent/cur */
  cur: number;
  new: number;
  sent: number;
}

const USERS: LegacyUser[] = [
  { email: 'alice@example.com', password: 'alice-old-pass-1', cur: 4, new: 2, sent: 1 },
  { email: 'bob@example.com', password: 'bob-old-pass-22', cur: 2, new: 1, sent: 0 },
  { email: 'carol@example.com', password: 'carol-old-pass-333', cur: 1, new: 0, sent: 0 },
];
/** valias as the shell tool appended it: one `alias target` per line, repeated for more targets. */
const VALIAS = ['info@example.com alice@example.com', 'team@example.com alice@example.com', 'team@example.com bob@example.com'];

interface Message {
  /** Where it must be after migration, relative to the user's home (<mail>/<domain>/<user>/). */
  path: string;
  sha256: string;
  subject: string;
  mailbox: 'INBOX' | 'Sent';
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const localOf = (email: string) => email.slice(0, email.indexOf('@'));
const domainOf = (email: string) => email.slice(email.indexOf('@') + 1);

function doveadmHash(password: string): string {
  const r = spawnSync('doveadm', ['pw', '-s', 'SHA512-CRYPT', '-p', password], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`doveadm pw: ${r.stderr}`);
  const hash = r.stdout.trim();
  if (!hash.startsWith('{SHA512-CRYPT}$6$')) throw new Error(`doveadm pw printed ${hash}`);
  return hash;
}

function rfc5322(user: LegacyUser, subject: string, n: number): string {
  const date = new Date(Date.UTC(2024, 0, 1 + n, 9, 30)).toUTCString().replace('GMT', '+0000');
  return [
    'Return-Path: <sender@example.net>',
    `Delivered-To: ${user.email}`,
    'From: Legacy Sender <sender@example.net>',
    `To: ${user.email}`,
    `Subject: ${subject}`,
    `Date: ${date}`,
    `Message-ID: <${sha256(subject).slice(0, 16)}@example.net>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Message ${n} for ${user.email}, stored by the old shell mailctl.`,
    'A second line, so the body is more than one line long.',
    '',
  ].join('\n');
}

function chownTree(path: string, uid: number): void {
  lchownSync(path, uid, uid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid);
}

/**
 * data_path exactly as SecuBox's shell mailctl left it. Returns every message, keyed by
 * email, with where it must end up.
 */
function buildLegacy(root: string): Map<string, Message[]> {
  const data = join(root, 'srv/mailserver');
  const config = join(data, 'config');
  const mail = join(data, 'mail');
  mkdirSync(config, { recursive: true });
  const users: string[] = [];
  const vmailbox: string[] = [];
  const messages = new Map<string, Message[]>();
  let n = 0;
  for (const user of USERS) {
    const local = localOf(user.email);
    const domain = domainOf(user.email);
    users.push(`${user.email}:${doveadmHash(user.password)}:${LEGACY_UID}:${LEGACY_UID}::/srv/mailserver/mail/${domain}/${local}::`);
    vmailbox.push(`${user.email} ${domain}/${local}/Maildir/`);
    const maildir = join(mail, domain, local, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp', '.Sent/cur', '.Sent/new', '.Sent/tmp']) mkdirSync(join(maildir, sub), { recursive: true });
    writeFileSync(join(maildir, 'subscriptions'), 'Sent\n');
    const list: Message[] = [];
    const add = (where: 'cur' | 'new' | '.Sent/cur', subject: string) => {
      n++;
      const body = rfc5322(user, subject, n);
      const size = Buffer.byteLength(body);
      const base = `${1704100000 + n}.M${100 + n}P${4000 + n}.secubox,S=${size},W=${size + body.split('\n').length - 1}`;
      const name = where === 'new' ? base : `${base}:2,S`;
      writeFileSync(join(maildir, where, name), body, { mode: 0o600 });
      list.push({ path: `${where}/${name}`, sha256: sha256(body), subject, mailbox: where === '.Sent/cur' ? 'Sent' : 'INBOX' });
    };
    for (let i = 1; i <= user.cur; i++) add('cur', `legacy ${local} read ${i}`);
    for (let i = 1; i <= user.new; i++) add('new', `legacy ${local} unread ${i}`);
    for (let i = 1; i <= user.sent; i++) add('.Sent/cur', `legacy ${local} sent ${i}`);
    messages.set(user.email, list);
  }
  writeFileSync(join(config, 'users'), users.join('\n') + '\n', { mode: 0o600 });
  writeFileSync(join(config, 'vmailbox'), vmailbox.join('\n') + '\n');
  writeFileSync(join(config, 'valias'), VALIAS.join('\n') + '\n');
  // The shell tool ran postmap on its sources; its databases are still lying there.
  const postfixDir = mkdtempSync(join('/tmp', 'legacy-postfix-'));
  try {
    writeFileSync(join(postfixDir, 'main.cf'), '');
    for (const map of ['vmailbox', 'valias']) {
      const r = spawnSync('postmap', ['-c', postfixDir, `hash:${join(config, map)}`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`postmap ${map}: ${r.stderr}`);
    }
  } finally {
    rmSync(postfixDir, { recursive: true, force: true });
  }
  chmodSync(mail, 0o755);
  chownTree(mail, LEGACY_UID);
  return messages;
}

/** Every path under root with type, mode, owner and content hash: "nothing changed" means equal. */
/** Every file with mode, owner and checksum; not /var (run state and logs: the write lock's queue lives there). */
function snapshot(root: string, dir = root): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (relative(root, path) === 'var') continue;
    const st = lstatSync(path);
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isDirectory()) {
      out[`${relative(root, path)}/`] = meta;
      Object.assign(out, snapshot(root, path));
    } else out[relative(root, path)] = `${meta} ${sha256(readFileSync(path))}`;
  }
  return out;
}

const home = (root: string, email: string) => join(root, 'srv/mailserver/mail', domainOf(email), localOf(email));

/** Every message file at its new place with its bytes, the same count, nothing left behind. */
function assertMessagesKept(root: string, expected: Map<string, Message[]>): void {
  for (const [email, messages] of expected) {
    const dir = home(root, email);
    assert.not.ok(existsSync(join(dir, 'Maildir')), `${email}: Maildir/ must be gone`);
    for (const m of messages) {
      const path = join(dir, m.path);
      assert.ok(existsSync(path), `${email}: ${m.path} missing after migrate`);
      assert.is(sha256(readFileSync(path)), m.sha256, `${email}: ${m.path} changed`);
    }
    for (const folder of ['', '.Sent/']) {
      const found = ['cur', 'new'].flatMap((sub) => (existsSync(join(dir, folder + sub)) ? readdirSync(join(dir, folder + sub)).map((f) => `${folder}${sub}/${f}`) : []));
      const want = messages.filter((m) => m.path.startsWith(folder) && (folder !== '' || !m.path.startsWith('.'))).map((m) => m.path);
      assert.equal(found.sort(), want.sort(), `${email}: message files in ${folder || 'INBOX '}cur/new`);
    }
  }
}

function assertOwnedByMail(root: string): void {
  const walk = (path: string) => {
    const st = lstatSync(path);
    assert.is(`${st.uid}:${st.gid}`, `${MAIL_UID}:${MAIL_GID}`, `${relative(root, path)} owned by ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(join(root, 'srv/mailserver/mail'));
}

const inbox = (user: string, password: string, mailbox = 'INBOX') =>
  runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user, password, mailbox });

async function assertImapSeesAll(expected: Map<string, Message[]>): Promise<void> {
  for (const user of USERS) {
    const messages = expected.get(user.email)!;
    for (const mailbox of ['INBOX', 'Sent'] as const) {
      const want = messages.filter((m) => m.mailbox === mailbox).map((m) => m.subject).sort();
      if (mailbox === 'Sent' && want.length === 0) continue;
      const r = await inbox(user.email, user.password, mailbox);
      assert.ok(r.ok, `${user.email} ${mailbox} with the old password: ${JSON.stringify(r)}`);
      if (!r.ok) return;
      const got = r.messages.map((m) => m.subject ?? '').filter((s) => s.startsWith('legacy ')).sort();
      assert.equal(got, want, `${user.email}: ${mailbox} over IMAP`);
    }
  }
}

async function startAndWait(root: string): Promise<void> {
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
}

// --- the tests ----------------------------------------------------------------------

const boxes: Sandbox[] = [];
const main = makeSandbox('mailserver-migrate-');
boxes.push(main);
const root = main.root;
let expected: Map<string, Message[]>;

test.before(() => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root);
  try {
    expected = buildLegacy(root);
  } catch (e) {
    process.stderr.write(`building the legacy fixture failed: ${(e as Error).stack}\n`); // uvu does not print hook errors
    throw e;
  }
});

test.after(() => {
  for (const b of boxes) {
    mailctl(b.root, ['stop']);
    b.cleanup();
  }
});

test('start refuses shell-mailctl data, says to run `mailctl migrate`, and changes nothing', () => {
  const before = snapshot(root);
  const r = mailctl(root, ['start']);
  assert.is(r.code, 1, `exit ${r.code}: ${r.stdout} ${r.stderr}`);
  assert.match(r.stderr, /mailctl migrate/);
  assert.equal(snapshot(root), before, 'a refused start must leave every file, mode and owner as it was');
  // Nor may an account change slip in before migration.
  const add = mailctl(root, ['user', 'add', 'dave@example.com', '--password-stdin'], 'dave-new-pass-4\n');
  assert.is(add.code, 1);
  assert.match(add.stderr, /mailctl migrate/);
  assert.equal(snapshot(root), before);
});

test('migrate moves every message up out of Maildir/, byte for byte, and gives the tree to uid 5000', () => {
  const r = ok(root, ['migrate', '--json']);
  const report = JSON.parse(r.stdout);
  assert.is(report.migrated, true);
  assert.is(report.mailboxes, USERS.length);
  assertMessagesKept(root, expected);
  assertOwnedByMail(root);
  // The users file keeps every hash, without the shell tool's uid/gid/home fields.
  const lines = readFileSync(join(root, 'srv/mailserver/config/users'), 'utf8').trim().split('\n');
  assert.equal(lines.map((l) => l.split(':')[0]).sort(), USERS.map((u) => u.email).sort());
  for (const line of lines) {
    const [email, hash, uid, gid, , home] = line.split(':');
    assert.equal([uid, gid, home], ['', '', ''], `${email}: legacy fields left in ${line}`);
    const user = USERS.find((u) => u.email === email)!;
    assert.is(spawnSync('doveadm', ['pw', '-t', hash!, '-p', user.password]).status, 0, `${email}: hash no longer matches the old password`);
  }
  assert.ok(existsSync(join(root, 'srv/mailserver/config/format')));
});

test('after start, each user logs in with the OLD password over IMAP (STARTTLS) and sees every message', async () => {
  await startAndWait(root);
  await assertImapSeesAll(expected);
  const wrong = await runMailClient({ action: 'imap_login', host: H, port: 143, tls: 'starttls', user: 'alice@example.com', password: 'not-the-old-one' });
  assert.is(wrong.ok, false);
});

test('the old aliases still deliver, and new mail lands next to the migrated mail', async () => {
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: ['info@example.com', 'team@example.com'], subject: 'after migration', body: 'hello' });
  assert.is(r.ok, true, JSON.stringify(r));
  assert.equal(r.refused, []);
  assert.ok(await waitForSubject('alice@example.com', USERS[0]!.password, 'after migration'), 'info@ and team@ reach alice');
  assert.ok(await waitForSubject('bob@example.com', USERS[1]!.password, 'after migration'), 'team@ reaches bob');
  const bobFiles = ['cur', 'new'].flatMap((sub) => readdirSync(join(home(root, 'bob@example.com'), sub)));
  assert.is(bobFiles.length, expected.get('bob@example.com')!.length + 1, `bob: the old messages and the new one in one maildir: ${bobFiles}`);
  assertOwnedByMail(root);
});

test('a second migrate has nothing to do', () => {
  const before = snapshot(join(root, 'srv/mailserver/mail'));
  const r = ok(root, ['migrate']);
  assert.match(r.stdout, /nothing to migrate/);
  assert.is(JSON.parse(ok(root, ['migrate', '--json']).stdout).migrated, false);
  assert.equal(snapshot(join(root, 'srv/mailserver/mail')), before);
});

test('a migrate interrupted half-way completes on the next run without losing a message', async () => {
  ok(root, ['stop']);
  const box = makeSandbox('mailserver-migrate-half-');
  boxes.push(box);
  const half = box.root;
  writeConfig(half);
  const legacy = buildLegacy(half);
  // What a killed first run leaves: alice half moved (new/ moved whole, some of cur/ moved and
  // already re-owned), bob moved completely but Maildir/ not yet removed, carol untouched; the
  // users file still has the legacy fields and no format file exists (those come last).
  const alice = home(half, 'alice@example.com');
  renameSync(join(alice, 'Maildir/new'), join(alice, 'new'));
  mkdirSync(join(alice, 'cur'));
  const aliceCur = readdirSync(join(alice, 'Maildir/cur')).sort();
  for (const name of aliceCur.slice(0, 2)) {
    renameSync(join(alice, 'Maildir/cur', name), join(alice, 'cur', name));
    lchownSync(join(alice, 'cur', name), MAIL_UID, MAIL_GID);
  }
  renameSync(join(alice, 'Maildir/subscriptions'), join(alice, 'subscriptions'));
  const bob = home(half, 'bob@example.com');
  for (const name of readdirSync(join(bob, 'Maildir'))) renameSync(join(bob, 'Maildir', name), join(bob, name));
  assert.equal(readdirSync(join(bob, 'Maildir')), []);

  const start = mailctl(half, ['start']);
  assert.is(start.code, 1, 'still refused: the migration is not finished');
  assert.match(start.stderr, /mailctl migrate/);
  ok(half, ['migrate']);
  assertMessagesKept(half, legacy);
  assertOwnedByMail(half);
  for (const email of ['alice@example.com', 'bob@example.com']) {
    const stray = spawnSync('find', [home(half, email), '-name', '*.migrated'], { encoding: 'utf8' }).stdout.trim();
    assert.is(stray, '', `${email}: duplicates left: ${stray}`);
  }
  await startAndWait(half);
  await assertImapSeesAll(legacy);
  ok(half, ['stop']);
});

test.run();
