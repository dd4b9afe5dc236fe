// Arguments with a check of their own keep it through optional() and word(): each case here
// fails if the method table's override is dropped and the plain base check runs instead.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, parseArgs } from '../../src-rpc/api/args.ts';
import { methodByName } from '../../src-rpc/api/table.ts';
import { ValidationError } from '../../src-rpc/config/validate.ts';
import { MailError } from '../../src-rpc/core/errors.ts';
import { readJob } from '../../src-rpc/jobs/store.ts';

function argsOf(name: string, input: object): Record<string, unknown> {
  const m = methodByName(name);
  if (!m) throw new Error(`no method ${name}`);
  return parseArgs(m.args, input) as Record<string, unknown>;
}

function refused(name: string, input: object, field: string): MailError | ValidationError {
  try {
    argsOf(name, input);
  } catch (e) {
    assert.ok(e instanceof MailError || e instanceof ValidationError, String(e));
    assert.is((e as MailError).field, field);
    return e as MailError;
  }
  throw new Error(`${name} ${JSON.stringify(input)} was accepted`);
}

test('a checked argument keeps its check through word() and optional()', () => {
  const even = arg.integer('n', 0, 100).checked((field, value) => {
    if (value !== 2) throw new ValidationError(field, 'must be 2');
    return 2 as const;
  });
  for (const a of [even, even.word(), even.optional(), even.word().optional(), even.optional().word()]) {
    assert.throws(() => a.parse('n', 3), /must be 2/);
    assert.is(a.parse('n', 2), 2);
  }
  assert.is(even.word().positional, true);
  assert.is(even.optional().required, false);
  assert.is(even.optional().word().required, false);
});

test('job_status refuses a path for a job id', () => {
  for (const id of ['../../../../var/x', '../x', '/etc', '20260101T000000-abcdef01/../../x', '20260101T000000-abcdef0']) {
    refused('job_status', { id }, 'id');
  }
  assert.equal(argsOf('job_status', { id: '20260101T000000-abcdef01' }), { id: '20260101T000000-abcdef01' });
});

test('a damaged job record is reported without its bytes', () => {
  const root = mkdtempSync(join(tmpdir(), 'args-test-'));
  const saved = process.env.MAILSERVER_ROOT;
  process.env.MAILSERVER_ROOT = root;
  try {
    const id = '20260101T000000-abcdef01';
    const dir = join(root, 'var/run/mailserver/jobs', id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json'), 'root:$6$secrethash:19000:0:99999:7:::\n');
    let message = '';
    try {
      readJob(id);
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /damaged/);
    assert.not.match(message, /root|secret|19000/);
    assert.throws(() => readJob('../../../../etc'), /not a job id/);
  } finally {
    if (saved === undefined) delete process.env.MAILSERVER_ROOT;
    else process.env.MAILSERVER_ROOT = saved;
    rmSync(root, { recursive: true, force: true });
  }
});

test('a mesh peer id with spaces or shell text is refused before it reaches UCI', () => {
  for (const peer of ["a b '$(touch x)", 'a b', "a'b", 'a$(id)', 'a\nb', '-rf']) {
    refused('mesh_add_peer', { peer }, 'peer');
    refused('mesh_remove_peer', { peer }, 'peer');
  }
  assert.equal(argsOf('mesh_add_peer', { peer: 'backup@nas.lan:2222'.replace('@', '.') }), { peer: 'backup.nas.lan:2222' });
});

test('user quota EMAIL default goes back to the default quota', () => {
  assert.equal(argsOf('user_quota', { email: 'anna@example.com', quota: 'default' }), { email: 'anna@example.com', quota: null });
  assert.equal(argsOf('user_quota', { email: 'anna@example.com', quota: '2G' }), { email: 'anna@example.com', quota: 2 * 1024 ** 3 });
  assert.equal(argsOf('user_add', { email: 'anna@example.com', password: 'a long passphrase', quota: 'default' }).quota, null);
  refused('user_quota', { email: 'anna@example.com', quota: 'defaults' }, 'quota');
});

test('the TSIG key name and secret keep their own checks', () => {
  refused('dns_key_set', { name: 'a b', secret: 'c2VjcmV0c2VjcmV0c2VjcmV0' }, 'name');
  refused('dns_key_set', { name: 'tsig.example.com', secret: 'not base64 !' }, 'secret');
});

test.run();
