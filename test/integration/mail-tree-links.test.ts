// The mail uid owns mail/ and mail/<domain>/, so it can plant links there. Root (mailctl, the
// plugin) must never follow one: each reproduction below plants a link to a root-owned directory
// outside data_path, runs the command, and checks that the command fails clearly and that the
// outside directory kept its mode, owner and contents. No daemons are started here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox('mailserver-links-');
const root = box.root;
const data = join(root, 'srv/mailserver');
const mail = join(data, 'mail');

test.after(() => box.cleanup());

/** Path → mode, owner and bytes of everything under dir (links as links). */
function snapshot(dir: string, base = dir): Record<string, string> {
  const out: Record<string, string> = {};
  const st = lstatSync(dir);
  out[dir.slice(base.length) || '/'] = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const s = lstatSync(path);
    if (s.isDirectory()) Object.assign(out, snapshot(path, base));
    else out[path.slice(base.length)] = `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${s.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'link'}`;
  }
  return out;
}

/** A root-owned directory outside data_path with something worth keeping in it. */
function outsideTarget(name: string, layout: (dir: string) => void = () => undefined): string {
  const dir = join(root, 'outside', name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'keep.txt'), `root's data in ${name}\n`, { mode: 0o644 });
  layout(dir);
  return dir;
}

function users(): string[] {
  return JSON.parse(ok(root, ['user', 'list', '--json']).stdout).items.map((u: { email: string }) => u.email);
}

test.before(() => {
  writeConfig(root);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], 'alice-pass-1\n');
});

test('a link planted as a maildir before user_add: refused, the target untouched, no account made', () => {
  const target = outsideTarget('planted');
  const before = snapshot(target);
  symlinkSync(target, join(mail, 'example.com', 'eve'));
  const r = mailctl(root, ['user', 'add', 'eve@example.com', '--password-stdin'], 'eve-pass-12\n');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /mail\/example\.com\/eve is a symbolic link or not a directory: refusing to follow it/);
  assert.equal(snapshot(target), before);
  assert.not.ok(users().includes('eve@example.com'), 'no account for a mailbox that could not be made');
  // Once the link is gone the same command works.
  rmSync(join(mail, 'example.com', 'eve'));
  ok(root, ['user', 'add', 'eve@example.com', '--password-stdin'], 'eve-pass-12\n');
  assert.is(lstatSync(join(mail, 'example.com', 'eve', 'cur')).uid, 5000);
});

test('a link planted as the domain directory for a new domain: refused before anything is made', () => {
  ok(root, ['domain', 'add', 'example.org']);
  const target = outsideTarget('domain-planted');
  const before = snapshot(target);
  symlinkSync(target, join(mail, 'example.org'));
  const r = mailctl(root, ['user', 'add', 'olga@example.org', '--password-stdin'], 'olga-pass-12\n');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /mail\/example\.org is a symbolic link/);
  assert.equal(snapshot(target), before);
  rmSync(join(mail, 'example.org'));
});

test('the domain directory swapped for a link before user_del --purge: refused, nothing deleted', () => {
  // The outside directory looks like the domain: it has an "alice" the purge would delete.
  const target = outsideTarget('swapped', (dir) => {
    mkdirSync(join(dir, 'alice', 'cur'), { recursive: true });
    writeFileSync(join(dir, 'alice', 'cur', 'precious'), 'root-owned data\n');
  });
  const before = snapshot(target);
  renameSync(join(mail, 'example.com'), join(mail, 'moved-away'));
  symlinkSync(target, join(mail, 'example.com'));
  const r = mailctl(root, ['user', 'del', 'alice@example.com', '--purge']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /mail\/example\.com is a symbolic link or not a directory: refusing to follow it/);
  assert.equal(snapshot(target), before);
  assert.ok(users().includes('alice@example.com'), 'refused before the account changed');
  rmSync(join(mail, 'example.com'));
  renameSync(join(mail, 'moved-away'), join(mail, 'example.com'));
  ok(root, ['user', 'del', 'alice@example.com', '--purge']);
  assert.not.ok(existsSync(join(mail, 'example.com', 'alice')));
});

test('links inside a maildir are removed as links by a purge, their targets kept', () => {
  ok(root, ['user', 'add', 'ivan@example.com', '--password-stdin'], 'ivan-pass-12\n');
  const target = outsideTarget('inner');
  const before = snapshot(target);
  symlinkSync(target, join(mail, 'example.com', 'ivan', 'cur', 'escape'));
  ok(root, ['user', 'del', 'ivan@example.com', '--purge']);
  assert.not.ok(existsSync(join(mail, 'example.com', 'ivan')));
  assert.equal(snapshot(target), before);
});

test('migrate over a linked maildir: refused before anything moves, the target untouched', () => {
  const legacy = makeSandbox('mailserver-links-legacy-');
  try {
    const lroot = legacy.root;
    writeConfig(lroot);
    const ldata = join(lroot, 'srv/mailserver');
    mkdirSync(join(ldata, 'config'), { recursive: true });
    // SecuBox's shell mailctl: users lines with uid/gid/home, mail in <user>/Maildir/.
    const hash = '{SHA512-CRYPT}$6$abcdefgh$' + 'x'.repeat(86);
    writeFileSync(join(ldata, 'config', 'users'), `bob@example.com:${hash}:1000:1000::/var/mail/example.com/bob::\ncarol@example.com:${hash}:1000:1000::/var/mail/example.com/carol::\n`, { mode: 0o600 });
    const bobMaildir = join(ldata, 'mail/example.com/bob/Maildir');
    mkdirSync(join(bobMaildir, 'cur'), { recursive: true });
    writeFileSync(join(bobMaildir, 'cur', '1.host:2,S'), 'Subject: bob\n\nhello\n');
    // carol's Maildir is a link to root's directory elsewhere.
    const target = join(lroot, 'outside-maildir');
    mkdirSync(join(target, 'cur'), { recursive: true, mode: 0o755 });
    writeFileSync(join(target, 'cur', 'secret'), 'not mail\n', { mode: 0o600 });
    mkdirSync(join(ldata, 'mail/example.com/carol'), { recursive: true });
    symlinkSync(target, join(ldata, 'mail/example.com/carol/Maildir'));
    const targetBefore = snapshot(target);
    const mailBefore = snapshot(join(ldata, 'mail'));

    const r = mailctl(lroot, ['migrate']);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /mail\/example\.com\/carol\/Maildir is a symbolic link/);
    assert.equal(snapshot(target), targetBefore);
    assert.equal(snapshot(join(ldata, 'mail')), mailBefore, 'nothing in the mail tree moved or changed owner');

    // Without the link the migration goes through.
    rmSync(join(ldata, 'mail/example.com/carol/Maildir'));
    const done = JSON.parse(ok(lroot, ['migrate', '--json']).stdout);
    assert.equal([done.migrated, done.maildirsMoved], [true, 1]);
    assert.ok(existsSync(join(ldata, 'mail/example.com/bob/cur/1.host:2,S')));
    assert.is(lstatSync(join(ldata, 'mail/example.com/bob/cur')).uid, 5000);
  } finally {
    legacy.cleanup();
  }
});

test.run();
