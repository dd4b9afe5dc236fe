// `user add` among many mailboxes splices two lines and appends one cdb record instead of
// converging everything (runtime/mailbox-add.ts). What it leaves must be exactly what the general
// way writes: after any mix of adds, `mailctl apply` finds nothing to change, and Postfix's own
// postmap finds every mailbox in the table. Whatever it cannot be sure of goes the general way.
// Killed at any point, it leaves the mailbox in every file and its maildir, or nowhere.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { mailctl, mailctlKilledAfter, ok, writeConfig } from '../support/mailctl.ts';
import { dumpTable, tableType } from '../support/postfix-tables.ts';
import { verifySha512Crypt } from '../../src-rpc/sys/sha512crypt.ts';

const box = makeSandbox('mailserver-quick-add-');
const root = box.root;
const config = join(root, 'srv/mailserver/config');
const PASSWORD = 'quick-add-pass-1\n';

test.after(() => box.cleanup());

const add = (email: string) => ok(root, ['user', 'add', email, '--password-stdin'], PASSWORD);
const applyChanges = () => (JSON.parse(ok(root, ['--json', 'apply']).stdout) as { changed: string[] }).changed;
const usersInFile = () => readFileSync(join(config, 'users'), 'utf8').split('\n').filter((l) => l !== '').map((l) => l.slice(0, l.indexOf(':')));
/** The keys of the vmailbox database in the order its records were written. */
function recordOrder(): string[] {
  const bytes = readFileSync(join(config, 'vmailbox.cdb'));
  const keys: string[] = [];
  for (let at = 2048; at < bytes.readUInt32LE(0); at += 8 + bytes.readUInt32LE(at) + bytes.readUInt32LE(at + 4)) keys.push(bytes.toString('utf8', at + 8, at + 8 + bytes.readUInt32LE(at)));
  return keys;
}

/** Every mailbox of the users file, and nothing else, is in vmailbox as Postfix reads it; apply has nothing to add. */
function assertConsistent(what: string): void {
  assert.equal(applyChanges(), [], `${what}: apply finds every generated file as it would write it`);
  const table = dumpTable(join(config, 'postfix'), tableType(config), join(config, 'vmailbox'));
  assert.equal([...table.keys()].sort(), usersInFile(), `${what}: the table holds exactly the mailboxes`);
  for (const email of usersInFile()) assert.is(table.get(email), `${email.split('@')[1]}/${email.split('@')[0]}/`, email);
}

test('adds after the first are one line each, appended to the table, and equal to a full apply', () => {
  writeConfig(root, { extraDomains: ['example.org'] });
  for (const email of ['mike@example.com', 'anna@example.com', 'zoe@example.org']) add(email);
  if (tableType(config) !== 'cdb') throw new Error('this Postfix reads no cdb tables (install postfix-cdb): the quick add is for cdb');
  const order = recordOrder();
  for (const email of ['bert@example.com', 'aaron@example.org', 'mike2@example.com']) add(email);
  assert.equal(recordOrder(), [...order, 'bert@example.com', 'aaron@example.org', 'mike2@example.com'], 'the later adds were appended, not rebuilt');
  assert.equal(usersInFile(), [...usersInFile()].sort(), 'the users file stays sorted');
  // The new line's hash is written in once made, over a stand-in: it must be this password's, in its place.
  for (const email of ['bert@example.com', 'aaron@example.org', 'mike2@example.com']) {
    const line = readFileSync(join(config, 'users'), 'utf8').split('\n').find((l) => l.startsWith(`${email}:`))!;
    const hash = line.split(':')[1]!;
    assert.ok(hash.startsWith('{SHA512-CRYPT}') && verifySha512Crypt(PASSWORD.trim(), hash.slice('{SHA512-CRYPT}'.length)), `${email}: ${line}`);
  }
  assertConsistent('six adds');
  const login = mailctl(root, ['user', 'list', '--json']);
  assert.is((JSON.parse(login.stdout) as { total: number }).total, 6);
});

test('a password or quota change between adds keeps them quick', () => {
  ok(root, ['user', 'passwd', 'anna@example.com', '--password-stdin'], 'another-pass-22\n');
  ok(root, ['user', 'quota', 'anna@example.com', '2G']);
  const order = recordOrder();
  add('abel@example.com');
  assert.equal(recordOrder(), [...order, 'abel@example.com'], 'appended: the stamp survived both changes');
  assertConsistent('after passwd and quota');
});

test('what the aliases name goes the general way, and every map shows it', () => {
  ok(root, ['alias', 'add', '@example.org', 'anna@example.com']);
  add('carl@example.org');
  const virtual = dumpTable(join(config, 'postfix'), tableType(config), join(config, 'virtual'));
  assert.is(virtual.get('carl@example.org'), 'carl@example.org', 'a catch-all domain: the mailbox maps to itself');
  add('postmaster@example.com');
  assert.is(dumpTable(join(config, 'postfix'), tableType(config), join(config, 'virtual')).get('postmaster@example.com'), undefined, 'postmaster@ is a mailbox now, not the implicit alias');
  assertConsistent('catch-all and postmaster adds');
});

test('a users file changed by another hand is never spliced into: the next add converges', () => {
  // Out of order, as an editor might leave it: a binary search in it would misplace lines.
  const line = readFileSync(join(config, 'users'), 'utf8').split('\n')[0]!.replace(/^[^:]+/, 'aaa-by-hand@example.com');
  appendFileSync(join(config, 'users'), `${line}\n`);
  const listed = (JSON.parse(ok(root, ['user', 'list', '--json']).stdout) as { items: { email: string }[] }).items.map((m) => m.email);
  assert.equal(listed, [...listed].sort(), 'listed in order: the edited file is not taken for one we wrote');
  assert.is(listed[0], 'aaa-by-hand@example.com');
  add('beth@example.com');
  assert.equal(usersInFile(), [...usersInFile()].sort(), 'written sorted again');
  assert.ok(usersInFile().includes('aaa-by-hand@example.com'));
  assertConsistent('after a hand edit');
});

test('refusals are the general way\'s: an existing mailbox, an alias, a foreign domain; nothing changes', () => {
  add('dora@example.com');
  const files = () => ['users', 'vmailbox', 'vmailbox.cdb'].map((f) => readFileSync(join(config, f)).toString('base64'));
  const before = files();
  ok(root, ['alias', 'add', 'info@example.com', 'dora@example.com']);
  const withAlias = files();
  for (const [email, error] of [['dora@example.com', /already exists/], ['info@example.com', /is an alias/], ['x@example.net', /not a mail domain/]] as const) {
    const r = mailctl(root, ['user', 'add', email, '--password-stdin'], PASSWORD);
    assert.is.not(r.code, 0, email);
    assert.match(r.stderr, error, email);
  }
  assert.equal(files(), withAlias);
  assert.equal(withAlias, before, 'an alias changes neither the users file nor vmailbox');
  assertConsistent('after refusals');
});

test('the pages of `user list` are those of the whole file, while its stamp counts the mailboxes and when it no longer does', () => {
  type Listed = { total: number; items: { email: string; quota: number | null }[] };
  const list = (offset: number, limit: number) => JSON.parse(ok(root, ['user', 'list', '--json', '--offset', String(offset), '--limit', String(limit)]).stdout) as Listed;
  const stamp = () => readFileSync(join(root, 'srv/mailserver/state/vmailbox-stamp'), 'utf8');
  const assertPages = (what: string) => {
    const whole = usersInFile();
    for (const [offset, limit] of [[0, 10], [0, 100], [0, 1000], [150, 40], [whole.length - 3, 25]] as const) {
      const page = list(offset, limit);
      assert.is(page.total, whole.length, `${what}: total`);
      assert.equal(page.items.map((m) => m.email), whole.slice(offset, offset + limit), `${what}: ${limit} from ${offset}`);
    }
  };
  // Lines of uneven length, as apply writes them: the long ones first, so a first page of 100
  // takes more bytes than 100 lines of average length.
  const hash = readFileSync(join(config, 'users'), 'utf8').split('\n')[0]!.split(':')[1];
  const emails = [...Array.from({ length: 100 }, (_, i) => `${'a'.repeat(200)}${String(i).padStart(3, '0')}@example.com`), ...Array.from({ length: 600 }, (_, i) => `u${String(i).padStart(4, '0')}@example.com`)];
  writeFileSync(join(config, 'users'), emails.map((e, i) => `${e}:${hash}::::::${i % 7 === 0 ? 'userdb_quota_rule=*:storage=1G' : ''}\n`).join(''));
  ok(root, ['apply']);
  assert.match(stamp(), / 700\n$/, 'apply stamps the count');
  assertPages('after apply');
  add('b-quick@example.com');
  assert.match(stamp(), / 701\n$/, 'a quick add counts itself');
  ok(root, ['user', 'quota', 'b-quick@example.com', '3G']);
  assert.match(stamp(), / 701\n$/);
  assert.equal(list(100, 1).items.map(({ email, quota }) => ({ email, quota })), [{ email: 'b-quick@example.com', quota: 3 * 1024 ** 3 }]);
  assertPages('after a quick add and a quota');
  // Another hand: the stamp no longer names the file; its count is not used.
  appendFileSync(join(config, 'users'), `zz-by-hand@example.com:${hash}::::::\n`);
  assertPages('after a hand edit');
  assert.is(list(0, 1).total, 702);
});

test('a quick add SIGKILLed at random points: the next command finds the mailbox in every file and its maildir, or nowhere', async () => {
  ok(root, ['apply']);
  const took = ['timing1', 'timing2', 'timing3'].map((name) => {
    const t = Date.now();
    add(`${name}@example.com`);
    return Date.now() - t;
  });
  // A busy machine stretches some adds: each one that finished before its kill pulls the aim
  // toward the time it took, and past 60 adds they go on until 20 were killed (at most 200).
  let typical = took.sort((a, b) => a - b)[1]!;
  const type = tableType(config);
  let killed = 0;
  let attempts = 0;
  while (attempts < 60 || (killed < 20 && attempts < 200)) {
    const email = `kill${attempts}@example.com`;
    const started = Date.now();
    // Most kills land where the add writes: after Node's start, before the end.
    if (await mailctlKilledAfter(root, ['user', 'add', email, '--password-stdin'], PASSWORD, typical * (0.5 + Math.random() * 0.6))) killed++;
    else typical = (typical + (Date.now() - started)) / 2;
    ok(root, ['user', 'list', '--json', '--limit', '1']); // a read: it waits for the killed write to be undone
    const inUsers = usersInFile().includes(email);
    const inSource = readFileSync(join(config, 'vmailbox'), 'utf8').split('\n').some((l) => l.startsWith(`${email} `));
    const inTable = spawnSync('postmap', ['-c', join(config, 'postfix'), '-q', email, `${type}:${join(config, 'vmailbox')}`]).status === 0;
    const maildir = existsSync(join(root, 'srv/mailserver/mail/example.com', `kill${attempts}`));
    assert.equal({ inSource, inTable, maildir }, { inSource: inUsers, inTable: inUsers, maildir: inUsers }, `after killing the add of ${email} (users file: ${inUsers})`);
    attempts++;
  }
  assert.ok(killed >= 20, `only ${killed} of ${attempts} adds were killed`);
  add('after-kills@example.com'); // a writer: it also sweeps what killed ones left
  assert.equal(readdirSync(config).filter((n) => n.startsWith('.tmp-')), [], 'no temp file left');
  assertConsistent('after the kills');
  process.stdout.write(`  ${killed} of ${attempts} quick adds killed (an add takes ~${Math.round(typical)} ms here)\n`);
});

test.run();
