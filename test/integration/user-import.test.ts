// user_import: 1 000 mailboxes from a list (CSV or JSON lines, passwords or ready SHA512-CRYPT
// hashes, quotas) as a job with progress, all or nothing; the list never on argv.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { startRpcd, UBUS, type Rpcd } from '../support/rpcd-emulator.ts';
import { sha512Crypt, verifySha512Crypt } from '../../src-rpc/sys/sha512crypt.ts';

const box = makeSandbox('mailserver-import-');
const root = box.root;
const usersFile = join(root, 'srv/mailserver/config/users');
const ROOT_LOGIN = { username: 'root', password: 'pw', read: ['*'], write: ['*'] };
let rpcd: Rpcd;

test.before(async () => {
  writeConfig(root, { extraDomains: ['example.org'] });
  rpcd = await startRpcd({ logins: [ROOT_LOGIN], env: { MAILSERVER_ROOT: root } });
});

test.after(() => {
  rpcd.close();
  box.cleanup();
});

const usersText = () => (existsSync(usersFile) ? readFileSync(usersFile, 'utf8') : '');
const hashOf = (email: string) => usersText().split('\n').find((l) => l.startsWith(`${email}:`))?.split(':')[1];

async function call(method: string, args: object): Promise<Record<string, unknown>> {
  const [status, data] = await rpcd.call('', 'luci.mailserver', method, args);
  assert.is(status, UBUS.OK, `${method}: ubus status`);
  return data as Record<string, unknown>;
}

async function waitJob(id: string, seen: string[]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 400_000;
  for (;;) {
    const j = await call('job_status', { id });
    seen.push(`${String(j.state)} ${String(j.progress)}%`);
    if (j.state !== 'running') return j;
    if (Date.now() > deadline) throw new Error(`job ${id} still running: ${seen.slice(-3).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('mailctl user import: CSV with a header, quoted passwords, a ready hash and quotas', () => {
  const hash = sha512Crypt('hashed-pass-123');
  const csv = ['address,password,quota', 'anna@example.com,"pass, with ""comma""",2G', `ben@example.org,${hash},`, 'carl@example.com,carl-pass-123,0', ''].join('\n');
  const refused = mailctl(root, ['user', 'import'], csv);
  assert.is(refused.code, 2, 'without --password-stdin the list is refused (never on argv)');
  const r = ok(root, ['user', 'import', '--password-stdin'], csv);
  assert.match(r.stdout, /imported 3 mailboxes/);
  assert.ok(verifySha512Crypt('pass, with "comma"', hashOf('anna@example.com')!.replace('{SHA512-CRYPT}', '')), 'anna logs in with her quoted password');
  assert.is(hashOf('ben@example.org'), `{SHA512-CRYPT}${hash}`, 'a ready hash is kept as it is');
  const list = JSON.parse(ok(root, ['--json', 'user', 'list']).stdout) as { items: { email: string; quota: number | null }[] };
  assert.equal(
    list.items.map((u) => [u.email, u.quota]),
    [
      ['anna@example.com', 2 * 1024 ** 3],
      ['ben@example.org', null],
      ['carl@example.com', 0],
    ],
  );
  assert.ok(existsSync(join(root, 'srv/mailserver/mail/example.com/anna/new')), 'maildirs are made');
});

test('all or nothing: a bad line is refused at the door, an existing mailbox fails the job; nothing written', async () => {
  const before = usersText();
  const bad = await call('user_import', { data: 'x1@example.com,pass-word-123\nnot-an-address,pass-word-123\n' });
  assert.is(bad.code, 'invalid_argument');
  assert.is(bad.field, 'data');
  assert.match(String(bad.error), /^line 2: /);
  assert.not.match(String(bad.error), /pass-word-123/, 'no password in the message');
  const twice = await call('user_import', { data: '{"address":"y1@example.com","password":"pass-word-123"}\n{"address":"y1@example.com","password":"pass-word-456"}' });
  assert.match(String(twice.error), /line 2: .*twice/);
  const clash = await call('user_import', { data: 'z1@example.com,pass-word-123\nanna@example.com,pass-word-123\n' });
  const job = await waitJob(String(clash.job), []);
  assert.is(job.state, 'failed');
  assert.is((job.error as { code: string }).code, 'exists');
  assert.is(usersText(), before, 'the users file is untouched');
});

test('user_import of 1 000 mailboxes through rpcd: a job with progress, then their passwords verify', async () => {
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ address: `bulk${String(i).padStart(4, '0')}@example.com`, password: `bulk-pass-${i}`, quota: i % 2 ? '1G' : undefined }));
  const t = performance.now();
  const started = await call('user_import', { data: lines.join('\n') });
  assert.equal(Object.keys(started).sort(), ['job', 'kind', 'state'], JSON.stringify(started));
  const seen: string[] = [];
  const job = await waitJob(String(started.job), seen);
  assert.is(job.state, 'done', JSON.stringify(job.error));
  assert.equal(job.result, { imported: 1000 });
  assert.ok(seen.some((s) => /^running [1-8]\d%/.test(s)), `progress was visible: ${seen.slice(0, 5).join(' | ')}`);
  const list = await call('user_list', { search: 'bulk', limit: 1 });
  assert.is(list.total, 1000);
  // One mailbox in every 37 and the last: the hashes come back from several threads, a batch of 25 each.
  for (const i of [...Array.from({ length: 28 }, (_, k) => k * 37), 999]) {
    const email = `bulk${String(i).padStart(4, '0')}@example.com`;
    assert.ok(verifySha512Crypt(`bulk-pass-${i}`, hashOf(email)!.replace('{SHA512-CRYPT}', '')), `${email}'s password`);
  }
  process.stdout.write(`  1 000 mailboxes imported in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
});

test.run();
