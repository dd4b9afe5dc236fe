// mailctl as a person or a script meets it: exit codes, clear errors naming the field, and
// nothing on disk changed by a refused command. No daemons are started here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';

const box = makeSandbox();
const root = box.root;

/** Every file under the root with its bytes' hash and mode: "nothing changed" means equal. */
function snapshot(dir = root): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) Object.assign(out, snapshot(path));
    else out[path.slice(root.length)] = `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  }
  return out;
}

test.before(() => {
  writeConfig(root, { extraDomains: ['example.org'] });
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], 'alice-pass-1\n');
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin'], 'bob-pass-22\n');
});
test.after(() => box.cleanup());

test('usage errors exit 2', () => {
  for (const args of [[], ['frobnicate'], ['user', 'add'], ['user', 'add', 'x@example.com', '--bogus', '1'], ['user', 'add', 'x@example.com', '--password', 'secret123']]) {
    const r = mailctl(root, args, 'pw-pw-pw-pw\n');
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.match(mailctl(root, ['user', 'add', 'x@example.com', '--password', 'secret123']).stderr, /password-stdin/);
  assert.is(mailctl(root, ['help']).code, 0);
});

test('a password is required and never read from argv', () => {
  const r = mailctl(root, ['user', 'add', 'new@example.com']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /password/);
});

const hostileAddresses = [
  'a\nb@example.com',
  'a:b@example.com',
  'a;rm -rf /@example.com',
  '$(reboot)@example.com',
  '`id`@example.com',
  '../../etc@example.com',
  'x@../../etc',
  'user@example.com/../x',
  `${'a'.repeat(10_000)}@example.com`,
  'jörg@example.com',
  'user@exämple.com',
  'a b@example.com',
  '"quoted"@example.com',
  'user@',
  '@example.com',
  'user',
  'user@@example.com',
];

test('hostile addresses: clear error naming the field, exit 1, every file byte-identical', () => {
  const before = snapshot();
  for (const email of hostileAddresses) {
    const r = mailctl(root, ['user', 'add', email, '--password-stdin'], 'good-password-1\n');
    assert.is(r.code, 1, `${JSON.stringify(email.slice(0, 40))}: exit ${r.code} ${r.stderr}`);
    assert.match(r.stderr, /^mailctl: email: /, r.stderr);
    assert.ok(r.stderr.length < 300, 'error does not echo 10 000 characters');
  }
  assert.equal(snapshot(), before);
});

test('hostile passwords are refused and never echoed', () => {
  const before = snapshot();
  for (const pw of ['short', 'x'.repeat(10_000), 'tab\there-long', 'nul\0inside-long', 'bell\x07inside-long']) {
    const r = mailctl(root, ['user', 'add', 'pw@example.com', '--password-stdin'], `${pw}\n`);
    assert.is(r.code, 1, `${JSON.stringify(pw.slice(0, 20))}: ${r.stderr}`);
    assert.match(r.stderr, /^mailctl: password: /);
    assert.not.ok(r.stderr.includes(pw.slice(0, 12)) && pw.length > 5, 'password not echoed');
  }
  assert.equal(snapshot(), before);
});

test('hostile alias, domain, quota and relay arguments: exit 1, nothing changed', () => {
  const before = snapshot();
  const cases: [string[], RegExp][] = [
    [['alias', 'add', 'in\nfo@example.com', 'alice@example.com'], /^mailctl: alias: /],
    [['alias', 'add', 'info@example.com', 'alice@example.com,evil\n@x.com'], /^mailctl: target: /],
    [['domain', 'add', 'exa mple.com'], /^mailctl: domain: /],
    [['domain', 'add', '../etc'], /^mailctl: domain: /],
    [['domain', 'add', `${'a'.repeat(10_000)}.com`], /^mailctl: domain: /],
    [['user', 'quota', 'alice@example.com', '-1G'], /^mailctl: quota: /],
    [['user', 'quota', 'alice@example.com', '1e9'], /^mailctl: quota: /],
    [['relay', 'set', 'relay.example.net:99999'], /^mailctl: host: /],
    [['relay', 'set', '[relay.example.net]:25;reboot'], /^mailctl: host: /],
    [['logs', '999999'], /^mailctl: lines: /],
  ];
  for (const [args, message] of cases) {
    const r = mailctl(root, args);
    assert.is(r.code, 1, `${args.join(' ').slice(0, 60)}: ${r.code} ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(snapshot(), before);
});

test('duplicates, missing users, loops and shadowing are clear errors', () => {
  const before = snapshot();
  const cases: [string[], RegExp][] = [
    [['user', 'add', 'ALICE@example.com', '--password-stdin'], /already exists/],
    [['user', 'del', 'nobody@example.com'], /no mailbox/],
    [['user', 'passwd', 'nobody@example.com', '--password-stdin'], /no mailbox/],
    [['user', 'add', 'someone@elsewhere.net', '--password-stdin'], /not a mail domain/],
    [['alias', 'add', 'alice@example.com', 'bob@example.com'], /is a mailbox/],
    [['alias', 'add', 'x@example.com', 'ghost@example.com'], /neither a mailbox nor an alias/],
    [['alias', 'del', 'nothing@example.com'], /no alias/],
    [['domain', 'del', 'example.com'], /primary/],
    [['domain', 'add', 'example.org'], /already/],
  ];
  for (const [args, message] of cases) {
    const r = mailctl(root, args, 'password-1234\n');
    assert.is(r.code, 1, `${args.join(' ')}: ${r.code} ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(snapshot(), before);

  ok(root, ['alias', 'add', 'a1@example.com', 'alice@example.com']);
  ok(root, ['alias', 'add', 'a2@example.com', 'a1@example.com']);
  const loop = mailctl(root, ['alias', 'add', 'a1@example.com', 'a2@example.com']);
  assert.is(loop.code, 1);
  assert.match(loop.stderr, /loop/);
  const shadow = mailctl(root, ['user', 'add', 'a1@example.com', '--password-stdin'], 'password-1234\n');
  assert.is(shadow.code, 1);
  assert.match(shadow.stderr, /is an alias/);
  ok(root, ['alias', 'del', 'a2@example.com']);
  ok(root, ['alias', 'del', 'a1@example.com']);
});

test('--json prints the objects the ubus door returns; errors too', () => {
  const list = JSON.parse(ok(root, ['user', 'list', '--json']).stdout);
  assert.equal(list.items.map((u: { email: string }) => u.email), ['alice@example.com', 'bob@example.com']);
  assert.is(list.total, 2);
  const search = JSON.parse(ok(root, ['user', 'list', '--search', 'BOB', '--json']).stdout);
  assert.equal(search.items.map((u: { email: string }) => u.email), ['bob@example.com']);
  const err = mailctl(root, ['user', 'del', 'nobody@example.com', '--json']);
  assert.equal(JSON.parse(err.stdout), { error: 'no mailbox nobody@example.com', code: 'not_found', field: 'email' });
});

test('domains: add, list, refuse removal while in use, remove', () => {
  ok(root, ['domain', 'add', 'Example.NET']);
  ok(root, ['user', 'add', 'dave@example.net', '--password-stdin'], 'dave-pass-99\n');
  assert.match(mailctl(root, ['domain', 'del', 'example.net']).stderr, /still has 1 mailboxes/);
  ok(root, ['user', 'del', 'dave@example.net', '--purge']);
  ok(root, ['domain', 'del', 'example.net']);
  const domains = JSON.parse(ok(root, ['domain', 'list', '--json']).stdout);
  assert.equal(domains.items.map((d: { domain: string }) => d.domain), ['example.com', 'example.org']);
  assert.match(readFileSync(join(root, 'etc/config/mailserver'), 'utf8'), /list extra_domain 'example.org'/);
});

test('user del keeps the mail unless --purge', () => {
  ok(root, ['user', 'add', 'eve@example.com', '--password-stdin'], 'eve-pass-123\n');
  const dir = join(root, 'srv/mailserver/mail/example.com/eve');
  assert.ok(lstatSync(join(dir, 'new')).isDirectory());
  assert.is(lstatSync(dir).uid, 5000);
  ok(root, ['user', 'del', 'eve@example.com']);
  assert.ok(lstatSync(dir).isDirectory(), 'mail kept');
});

test("user list: each mailbox's stored mail, from S= in Dovecot's file names or a stat", () => {
  ok(root, ['user', 'add', 'usage@example.com', '--password-stdin'], 'usage-pass-123\n');
  const dir = join(root, 'srv/mailserver/mail/example.com/usage');
  const put = (sub: string, name: string, bytes: number) => {
    mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, sub, name), 'x'.repeat(bytes));
  };
  // Dovecot's names: S= is trusted (the file here is smaller on purpose, so a stat would show).
  put('cur', '1700000000.M1P1.mail,S=1000,W=1020:2,S', 10);
  put('new', '1700000001.M2P2.mail,S=2000,W=2040', 20);
  put('.Sent/cur', '1700000002.M3P3.mail,S=4000,W=4080:2,S', 30);
  // Delivered by something else: no S=, so the file's own size.
  put('new', '1700000003.procmail.host', 300);
  put('.Archive.2024/cur', '1700000004.other.host:2,', 5000);
  // Not messages: tmp/, Dovecot's index and list files, a dot-file that is no folder.
  put('tmp', '1700000005.M6P6.mail,S=99999', 10);
  put('', 'dovecot-uidlist', 100);
  put('', '.hidden-file', 100);
  const usage = (email: string, limit?: number) =>
    (JSON.parse(ok(root, ['user', 'list', '--json', ...(limit ? ['--limit', String(limit)] : [])]).stdout).items as { email: string; usage: number | null }[]).find((m) => m.email === email)?.usage;
  assert.is(usage('usage@example.com'), 1000 + 2000 + 4000 + 300 + 5000);
  assert.is(usage('alice@example.com'), 0, 'an empty maildir');
  assert.match(ok(root, ['user', 'list', '--search', 'usage@']).stdout, /^usage@example\.com\t12K\tdefault$/m);
  // A big page (the CLI listing thousands) is not walked: usage is null, the text says "-".
  // (zbulk… sorts after usage@, so the first 200 hold it.)
  const users = join(root, 'srv/mailserver/config/users');
  const before = readFileSync(users, 'utf8');
  const line = before.split('\n').find((l) => l.startsWith('alice@example.com:'))!;
  writeFileSync(users, before + Array.from({ length: 200 }, (_, i) => line.replace('alice@', `zbulk${String(i).padStart(3, '0')}@`)).join('\n') + '\n');
  assert.is(usage('usage@example.com', 200), 12300, 'a page of 200 is counted');
  assert.is(usage('usage@example.com', 201), null);
  assert.match(ok(root, ['user', 'list', '--limit', '1000']).stdout, /^usage@example\.com\t-\tdefault$/m);
  writeFileSync(users, before);
  ok(root, ['user', 'del', 'usage@example.com', '--purge']);
});

test('overview: the quota settings the add form explains, and no DNS check yet', () => {
  const o = () => JSON.parse(ok(root, ['overview', '--json']).stdout);
  assert.equal(o().quota, { enabled: true, default: 0 });
  assert.is(o().dns, null, 'never checked');
  setUci(root, 'features', 'quota_default', '1G');
  assert.equal(o().quota, { enabled: true, default: 1024 ** 3 });
  setUci(root, 'features', 'quota', '0');
  assert.equal(o().quota, { enabled: false, default: 1024 ** 3 });
  setUci(root, 'features', 'quota', '1');
  setUci(root, 'features', 'quota_default', '0');
});

test.run();
