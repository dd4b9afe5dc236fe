// The built rpcd plugin as rpcd runs it (test/support/rpcd-emulator.ts): every method of the
// table with bad arguments, raw non-object stdin, unknown methods, parallel writers, calls
// SIGKILLed by rpcd's timeout, and jobs that must not hold the call open. No daemons run here.
//
// NODE_BIN (default: this Node) is the `node` the plugin's sh front finds first on PATH, so
// test/run.mjs runs this file a second time with Node 18 (OpenWrt 23.05). It also runs it with
// the warm worker on (TEST_WORKER_IDLE → main.worker_idle): every test here then passes through
// the worker, and one more test checks warm and cold replies byte for byte.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, makeSandbox } from '../support/sandbox.ts';
import { writeConfig } from '../support/mailctl.ts';
import { startRpcd, UBUS, type ExecRecord, type Rpcd } from '../support/rpcd-emulator.ts';
import { FRONT_TOOLS, stopWorker, waitForWorker, workerPid } from '../support/worker.ts';
import { holdLock as holdLockOf } from '../support/lock-holder.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PLUGIN = join(REPO, 'rpcd', 'luci.mailserver');
const NODE_BIN = process.env.NODE_BIN || process.execPath;
const OBJECT = 'luci.mailserver';

interface MethodDescription {
  name: string;
  access: 'read' | 'write';
  accounts: boolean;
  args: Record<string, { kind: 'string' | 'boolean' | 'integer' | 'array' | 'object'; required: boolean }>;
}
const METHODS = JSON.parse(readFileSync(join(REPO, 'rpcd', 'methods.json'), 'utf8')) as MethodDescription[];

const box = makeSandbox('mailserver-rpcd-');
const root = box.root;
const configDir = join(root, 'srv/mailserver/config');
const jobsDir = join(root, 'var/run/mailserver/jobs');
/** The plugin's environment: the chosen node first on PATH (the sh front does `exec node`). */
const env = { MAILSERVER_ROOT: root, PATH: `${dirname(NODE_BIN)}:${process.env.PATH ?? '/usr/bin:/bin'}` };
const ROOT_LOGIN = { username: 'root', password: 'router-secret', read: ['*'], write: ['*'] };

const execs: ExecRecord[] = [];
const emulators: Rpcd[] = [];
let rpcd: Rpcd;
let sid: string;

async function emulator(timeoutMs?: number): Promise<Rpcd> {
  const r = await startRpcd({ logins: [ROOT_LOGIN], env, onExec: (e) => execs.push(e), ...(timeoutMs ? { timeoutMs } : {}) });
  emulators.push(r);
  return r;
}

test.before(async () => {
  writeConfig(root, { extraDomains: ['example.org'] });
  rpcd = await emulator();
  sid = (await rpcd.login(ROOT_LOGIN.username, ROOT_LOGIN.password))!;
  assert.ok(sid, 'root login');
});

test.after(async () => {
  for (const r of emulators) r.close();
  await stopWorker(root);
  box.cleanup();
});

// --- helpers -------------------------------------------------------------------------

/** Traffic, not state: a call's files at the worker's door and the write lock's queue. */
const TRANSIENT = ['/var/run/mailserver/worker/calls', '/var/run/mailserver/locks'];

/** Every file and directory under the root: path → mode and content hash. */
function snapshot(dir = root, out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (TRANSIENT.includes(path.slice(root.length))) continue;
    const st = lstatSync(path);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out[path.slice(root.length)] = `dir ${mode}`;
      snapshot(path, out);
    } else out[path.slice(root.length)] = `${mode} ${st.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'special'}`;
  }
  return out;
}

/** `except`: a file that may change (with the directories leading to it). */
function assertUnchanged(before: Record<string, string>, what: string, except?: string): void {
  const after = snapshot();
  const allowed = (k: string) => except !== undefined && `${except}/`.startsWith(`${k}/`);
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k] && !allowed(k));
  assert.equal(changed, [], `${what} changed files under the sandbox root`);
}

/** Run at most `n` promises at a time, results in order. */
async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

interface Called {
  status: number;
  data: Record<string, unknown> | undefined;
  exec: ExecRecord | undefined;
}

/** One call through the emulator as an HTTP caller makes it, with the plugin's raw output. */
async function call(method: string, args: object, via: Rpcd = rpcd, session = sid): Promise<Called> {
  const [status, data] = await via.call(session, OBJECT, method, args);
  const expected = session === '' ? args : { ...args, ubus_rpc_session: session };
  let exec: ExecRecord | undefined;
  for (let i = execs.length - 1; i >= 0 && !exec; i--) if (execs[i]!.method === method && deepEqual(JSON.parse(execs[i]!.input), expected)) exec = execs[i];
  return { status, data: data as Record<string, unknown> | undefined, exec };
}

function deepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.equal(a, b);
    return true;
  } catch {
    return false;
  }
}

const STACK = /\n\s+at |\bat [\w.<>]+ \(|\.(?:js|ts):\d+:\d+|node:internal/;

/** One JSON object {error, code, field?} and nothing else. */
function assertErrorReply(c: Called, code: string, label: string, field?: string | ((f: unknown) => boolean)): void {
  assert.is(c.status, UBUS.OK, `${label}: ubus status`);
  assert.ok(c.exec, `${label}: the plugin ran`);
  const e = c.exec!;
  assert.is(e.stderr, '', `${label}: stderr must stay empty`);
  let whole: unknown;
  try {
    whole = JSON.parse(e.stdout);
  } catch {
    assert.unreachable(`${label}: stdout is not exactly one JSON value: ${JSON.stringify(e.stdout.slice(0, 300))}`);
  }
  assert.equal(whole, c.data, `${label}: stdout is the one reply object`);
  const d = c.data!;
  assert.equal(Object.keys(d).filter((k) => !['error', 'code', 'field'].includes(k)), [], `${label}: keys ${Object.keys(d)}`);
  assert.type(d.error, 'string', `${label}: error text`);
  assert.ok((d.error as string).length > 0 && (d.error as string).length < 500, `${label}: short error text`);
  assert.not.match(d.error as string, STACK, `${label}: no stack trace`);
  assert.is(d.code, code, `${label}: code (${d.error})`);
  if (typeof field === 'string') assert.is(d.field, field, `${label}: field`);
  else if (field) assert.ok(field(d.field), `${label}: field ${String(d.field)}`);
}

/** A valid value for every argument name the table uses (a new argument needs one here). */
const VALID: Record<string, unknown> = {
  to: 'someone@example.net',
  lines: 10,
  service: 'postfix',
  offset: 0,
  limit: 10,
  search: 'x',
  email: 'valid@example.com',
  password: 'Valid-pass-123',
  quota: '1G',
  purge: false,
  alias: 'info@example.com',
  target: 'valid@example.com',
  domain: 'example.net',
  host: '[relay.example.net]:587',
  user: 'relayuser',
  peer: 'peer1',
  mode: 'push',
  file: 'snapshot-1',
  output: '/tmp/backup.tar.age',
  rootfs: '/var/cache/secubox-mailserver/rootfs.tar.gz',
  no_encrypt: false,
  dry_run: true,
  undo: false,
  key: 'a-long-enough-backup-passphrase',
  format: 'zone',
  force: true,
  id: '20250101T000000-deadbeef',
  name: 'tsig-test',
  algorithm: 'hmac-sha256',
  secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=',
  address: '192.0.2.1',
  time: 60,
  data: 'valid@example.com,Valid-pass-123,1G',
  node: 'mail.example.net',
  snapshot: 'deadbeef',
  apply: false,
};

/** Values no validator of that kind accepts (numbers for sizes and "yes" for flags are accepted on purpose). */
const WRONG: Record<string, unknown[]> = {
  string: [true, {}, [], 1.5],
  integer: ['many', 1.5, true, {}, []],
  boolean: ['maybe', 7, {}, []],
  array: ['x', 1, {}],
  object: ['x', 1, []],
};

const BIG = 'a'.repeat(100 * 1024);

/** Run the plugin as rpcd would (sh front, no argv but call/method), with raw stdin. */
function runPlugin(args: string[], input: string): Promise<{ stdout: string; stderr: string; ms: number }> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(PLUGIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    child.on('close', () => done({ stdout, stderr, ms: performance.now() - started }));
    child.stdin.end(input);
  });
}

function assertRawErrorReply(r: { stdout: string; stderr: string; ms: number }, code: string, label: string): void {
  assert.is(r.stderr, '', `${label}: stderr`);
  let v: unknown;
  try {
    v = JSON.parse(r.stdout);
  } catch {
    assert.unreachable(`${label}: stdout is not one JSON value: ${JSON.stringify(r.stdout.slice(0, 200))}`);
  }
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${label}: an object`);
  const o = v as Record<string, unknown>;
  assert.equal(Object.keys(o).filter((k) => !['error', 'code', 'field'].includes(k)), [], `${label}: keys`);
  assert.is(o.code, code, `${label}: code (${String(o.error)})`);
  assert.type(o.error, 'string');
  assert.not.match(o.error as string, STACK, `${label}: no stack trace`);
}

// Strict readers of the store files (a torn or half-written file fails here).
const HASH = /^\{SHA512-CRYPT\}\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/;
const USER_LINE = /^([a-z0-9._+-]+@[a-z0-9.-]+):([^:]+)::::::(userdb_quota_rule=\S+)?$/;

function lines(name: string): string[] {
  let text = '';
  try {
    text = readFileSync(join(configDir, name), 'utf8');
  } catch {
    return [];
  }
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${name} does not end with a newline (torn write?)`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

function storedUsers(): Set<string> {
  const out = new Set<string>();
  for (const line of lines('users')) {
    const m = USER_LINE.exec(line);
    if (!m || !HASH.test(m[2]!)) throw new Error(`users: malformed line ${JSON.stringify(line)}`);
    if (out.has(m[1]!)) throw new Error(`users: ${m[1]} twice`);
    out.add(m[1]!);
  }
  return out;
}

function storedAliases(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of lines('valias')) {
    const m = /^(@?[a-z0-9._+-]*@?[a-z0-9.-]+) ([^\s,]+(?:,[^\s,]+)*)$/.exec(line);
    if (!m) throw new Error(`valias: malformed line ${JSON.stringify(line)}`);
    if (out.has(m[1]!)) throw new Error(`valias: ${m[1]} twice`);
    out.set(m[1]!, m[2]!.split(','));
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

function jobRecord(id: string): { pid: number; state: string } | null {
  try {
    return JSON.parse(readFileSync(join(jobsDir, id, 'state.json'), 'utf8')) as { pid: number; state: string };
  } catch {
    return null;
  }
}

async function waitJob(id: string, seconds: number, seen: string[] = []): Promise<Record<string, unknown>> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const c = await call('job_status', { id });
    assert.is(c.status, UBUS.OK);
    const j = c.data!;
    seen.push(`${String(j.state)} ${String(j.progress)}% ${String(j.phase)}`);
    if (j.state !== 'running') return j;
    if (Date.now() > deadline) throw new Error(`job ${id} still running after ${seconds} s: ${seen.slice(-3).join(' | ')}`);
    await sleep(50);
  }
}

// --- the plugin and its node ---------------------------------------------------------------

test('the plugin runs on the chosen node (NODE_BIN)', () => {
  const r = spawnSync('/bin/sh', ['-c', 'command -v node && node --version'], { env, encoding: 'utf8' });
  const [found, version] = r.stdout.trim().split('\n');
  assert.is(realpathSync(found!), realpathSync(NODE_BIN), 'the sh front finds NODE_BIN first on PATH');
  process.stdout.write(`  plugin node: ${version} (${NODE_BIN})\n`);
  const major = Number(/^v(\d+)/.exec(version ?? '')?.[1]);
  assert.ok(major >= 18, `node ${version} is at least 18`);
  if (process.env.NODE_BIN_MAJOR) assert.is(major, Number(process.env.NODE_BIN_MAJOR), 'expected node major');
});

test('list: the signature is the method table, answered by the sh front without Node', async () => {
  assert.equal(Object.keys(rpcd.signature), METHODS.map((m) => m.name));
  const example = { string: 'str', boolean: true, integer: 32, array: [], object: {} };
  for (const m of METHODS) {
    assert.equal(rpcd.signature[m.name], Object.fromEntries(Object.entries(m.args).map(([n, a]) => [n, example[a.kind]])), m.name);
  }
  // rpcd runs `list` synchronously at its start: it must not wait for Node. With a PATH that has
  // cat and nothing else, the front still answers. (How fast it is: `npm run bench`.)
  const bin = mkdtempSync('/tmp/rpcd-list-no-node-');
  try {
    const cat = spawnSync('/bin/sh', ['-c', 'command -v cat'], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(cat, join(bin, 'cat'));
    const r = spawnSync(PLUGIN, ['list'], { env: { PATH: bin }, encoding: 'utf8' });
    assert.is(r.stderr, '');
    assert.equal(JSON.parse(r.stdout), rpcd.signature);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

// --- warm and cold --------------------------------------------------------------------------

const WORKER_ON = Number(process.env.TEST_WORKER_IDLE ?? 0) > 0;

/**
 * The front with a PATH that has what it needs for the warm path but no node: a reply then
 * proves the worker answered (cold would fail: no node to exec).
 */
function runWarmOnly(method: string, input: string): Promise<{ stdout: string; stderr: string }> {
  const bin = mkdtempSync('/tmp/rpcd-warm-only-');
  for (const tool of FRONT_TOOLS) {
    const found = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(found, join(bin, tool));
  }
  return new Promise((done) => {
    const child = spawn(PLUGIN, ['call', method], { env: { MAILSERVER_ROOT: root, PATH: bin }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', () => {
      rmSync(bin, { recursive: true, force: true });
      done({ stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** The cold path itself: the bundle on NODE_BIN, no front. */
function runCold(method: string, input: string): string {
  return spawnSync(NODE_BIN, [join(REPO, 'rpcd', 'luci.mailserver.js'), 'call', method], { env, input, encoding: 'utf8' }).stdout;
}

test('worker on: warm replies are byte-identical to cold ones; worker off: none starts', async () => {
  if (!WORKER_ON) {
    await call('status', {});
    assert.is(workerPid(root), null, 'main.worker_idle 0: no worker process');
    return;
  }
  await call('status', {});
  const pid = await waitForWorker(root);
  const cases: [string, string][] = [
    ['status', '{}'],
    ['user_list', '{"limit":25}'],
    ['user_list', '{"search":"nobody-here","ubus_rpc_session":"x"}'],
    ['alias_list', '{}'],
    ['domain_list', '{}'],
    ['relay_show', '{}'],
    ['dns_records', '{}'],
    ['job_status', '{"id":"20250101T000000-deadbeef"}'],
    ['user_add', '{"email":"bad address","password":"x"}'],
    ['user_list', '{"limit":"many"}'],
    ['user_list', '[1]'],
    ['user_list', ''],
    ['overview', '{}'],
  ];
  for (const [method, input] of cases) {
    const warm = await runWarmOnly(method, input);
    assert.is(warm.stderr, '', `${method} ${input}: warm stderr`);
    assert.ok(warm.stdout.startsWith('{'), `${method} ${input}: the worker answered (${warm.stdout.slice(0, 200)})`);
    assert.is(warm.stdout, runCold(method, input), `${method} ${input}: warm and cold replies differ`);
  }
  assert.is(workerPid(root), pid, 'one worker served them all');
});

// --- valid calls ----------------------------------------------------------------------------

test('every read method answers status 0 with an object; reads change no file', async () => {
  const before = snapshot();
  const pending: string[] = [];
  for (const m of METHODS.filter((x) => x.access === 'read')) {
    const args = m.name === 'job_status' ? { id: VALID.id } : m.name === 'user_profile' ? { email: VALID.email } : {};
    const c = await call(m.name, args);
    assert.is(c.status, UBUS.OK, m.name);
    assert.ok(c.data && typeof c.data === 'object', m.name);
    assert.is(c.exec?.stderr, '', `${m.name}: stderr`);
    if (m.name === 'job_status') assertErrorReply(c, 'not_found', 'job_status of no job', 'id');
    else if (m.name === 'user_profile') assertErrorReply(c, 'not_found', 'user_profile of no mailbox', 'email');
    else if (c.data!.code === 'not_implemented') pending.push(m.name);
    else assert.is(c.data!.error, undefined, `${m.name}: ${String(c.data!.error)}`);
  }
  if (pending.length) process.stdout.write(`  not implemented yet: ${pending.join(', ')}\n`);
  assertUnchanged(before, 'read methods');
});

test('user_add, then user_list shows it', async () => {
  const add = await call('user_add', { email: 'alice@example.com', password: 'alice-pass-123', quota: '2G' });
  assert.is(add.status, UBUS.OK);
  assert.equal(add.data, { email: 'alice@example.com', quota: 2 * 1024 ** 3 });
  const alias = await call('alias_add', { alias: 'sales@example.com', target: 'alice@example.com' });
  assert.is(alias.data?.error, undefined, String(alias.data?.error));
  const list = await call('user_list', { search: 'alice' });
  assert.is(list.status, UBUS.OK);
  assert.equal(list.data, { total: 1, offset: 0, items: [{ email: 'alice@example.com', quota: 2 * 1024 ** 3, usage: 0 }] });
  assert.ok(storedUsers().has('alice@example.com'));
});

// --- refused calls --------------------------------------------------------------------------

test('every method: wrong types, missing, unknown and 100 KiB arguments → one error object, nothing changed', async () => {
  const before = snapshot();
  interface Case {
    method: string;
    args: Record<string, unknown>;
    label: string;
    field: string | ((f: unknown) => boolean);
  }
  const cases: Case[] = [];
  for (const m of METHODS) {
    const names = Object.keys(m.args);
    for (const n of names) if (!(n in VALID)) assert.unreachable(`no valid example for argument ${n} of ${m.name}: add one to VALID`);
    const valid = Object.fromEntries(names.map((n) => [n, VALID[n]]));
    cases.push({ method: m.name, args: { ...valid, bogus_arg: 1 }, label: `${m.name} with an unknown argument`, field: 'bogus_arg' });
    cases.push({ method: m.name, args: { [`k${BIG}`]: 'v' }, label: `${m.name} with a 100 KiB argument name`, field: `k${BIG}`.slice(0, 64) });
    const required = names.filter((n) => m.args[n]!.required);
    if (required.length) {
      cases.push({ method: m.name, args: {}, label: `${m.name} without arguments`, field: (f) => required.includes(f as string) });
      for (const n of required) {
        const rest = { ...valid };
        delete rest[n];
        cases.push({ method: m.name, args: rest, label: `${m.name} without ${n}`, field: n });
      }
    }
    for (const n of names) {
      for (const wrong of WRONG[m.args[n]!.kind]!) {
        cases.push({ method: m.name, args: { ...valid, [n]: wrong }, label: `${m.name} ${n}=${JSON.stringify(wrong)}`, field: n });
      }
      if (m.args[n]!.kind === 'string') cases.push({ method: m.name, args: { ...valid, [n]: BIG }, label: `${m.name} ${n}=<100 KiB>`, field: n });
    }
  }
  const results = await pool(cases, 2, (c) => call(c.method, c.args));
  cases.forEach((c, i) => assertErrorReply(results[i]!, 'invalid_argument', c.label, c.field));
  process.stdout.write(`  ${cases.length} refused calls over ${METHODS.length} methods\n`);
  assertUnchanged(before, 'refused calls');
});

test('raw stdin that is not a JSON object → invalid_argument, for every method', async () => {
  const before = snapshot();
  const inputs = ['[1]', '"x"', 'nul', '{bad json}'];
  const more = ['null', '42', 'true', '{"email":', '{"a":1} {"b":2}', '\u0000'];
  const cases = METHODS.flatMap((m) => inputs.map((input) => ({ method: m.name, input })));
  for (const method of ['status', 'user_add', 'install']) cases.push(...more.map((input) => ({ method, input })));
  const results = await pool(cases, 2, (c) => runPlugin(['call', c.method], c.input));
  const label = (c: { method: string; input: string }) => `${c.method} <<< ${JSON.stringify(c.input)}`;
  cases.forEach((c, i) => assertRawErrorReply(results[i]!, 'invalid_argument', label(c)));
  assertUnchanged(before, 'non-object stdin');
});

test('unknown methods: the plugin says unknown_method, ubus says METHOD_NOT_FOUND', async () => {
  const before = snapshot();
  // A name longer than the worker's door takes (64) once left the warm front waiting for ever.
  const names = ['nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '../../bin/sh', 'USER_ADD', 'user_add ', '', 'x'.repeat(65)];
  for (const name of names) {
    assertRawErrorReply(await runPlugin(['call', name], '{}'), 'unknown_method', `call ${JSON.stringify(name)}`);
    assert.equal(await rpcd.call('', OBJECT, name, {}), [UBUS.METHOD_NOT_FOUND], `ubus ${JSON.stringify(name)}`);
  }
  assertRawErrorReply(await runPlugin(['call'], '{}'), 'unknown_method', 'call without a method');
  const usage = await runPlugin(['frobnicate'], '');
  assert.is(usage.stdout, '', 'usage goes to stderr only');
  assert.equal(await rpcd.call('', 'luci.nothing', 'status', {}), [UBUS.NOT_FOUND], 'unknown object');
  assertUnchanged(before, 'unknown methods');
});

// --- concurrency and kills --------------------------------------------------------------------

test('32 parallel user_add calls with two CPU hogs running: all 32 present', async () => {
  const emails = Array.from({ length: 32 }, (_, i) => `p${String(i).padStart(2, '0')}@example.com`);
  // Two `yes > /dev/null` compete for the CPU (a busy router): writers wait in line, in order,
  // and none may give up with `busy`.
  const hogs = [0, 1].map(() => spawn('yes', [], { stdio: ['ignore', 'ignore', 'ignore'] }));
  const started = performance.now();
  let results: Awaited<ReturnType<typeof call>>[];
  try {
    results = await Promise.all(emails.map((email) => call('user_add', { email, password: `pass-${email}` })));
  } finally {
    for (const hog of hogs) hog.kill('SIGKILL');
  }
  results.forEach((r, i) => {
    assert.is(r.status, UBUS.OK, emails[i]);
    assert.is(r.data?.error, undefined, `${emails[i]}: ${String(r.data?.error)}`);
  });
  const list = await call('user_list', { search: '@example.com', limit: 1000 });
  const listed = new Set((list.data!.items as { email: string }[]).map((u) => u.email));
  for (const e of emails) assert.ok(listed.has(e), `${e} listed`);
  const stored = storedUsers();
  for (const e of emails) assert.ok(stored.has(e), `${e} stored`);
  process.stdout.write(`  32 parallel user_add: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
});

test('calls SIGKILLed by the rpcd timeout mid-write leave whole files and no stuck lock', async () => {
  // Timeouts spread over how long a user_add takes here, so kills land before, during and after the write.
  // The second fastest of five: a process's first hash also compiles the SHA-512 module, and a
  // busy machine slows some calls; a too long estimate would let every call finish.
  const durations: number[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await call('user_add', { email: `warm${i}@example.com`, password: `warm-pass-${i}` });
    durations.push(c.exec!.ms);
  }
  const d = durations.sort((a, b) => a - b)[1]!;
  const timeouts = [0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0].map((f) => Math.max(5, Math.round(f * d)));
  const killers = await Promise.all(timeouts.map((ms) => emulator(ms)));
  const sids = await Promise.all(killers.map((k) => k.login(ROOT_LOGIN.username, ROOT_LOGIN.password)));
  const created = new Set<string>();
  const aliased = new Map<string, string>();
  let killed = 0;
  let calls = 0;
  let tornTemps = 0;
  for (let i = 0; i < 21; i++) {
    // Two writers at a time: one is killed while the other waits for the lock or writes.
    const a = killers[i % killers.length]!;
    const b = killers[(i + 3) % killers.length]!;
    const sa = sids[i % killers.length]!;
    const sb = sids[(i + 3) % killers.length]!;
    const email = `k${i}@example.com`;
    const alias = `ka${i}@example.com`;
    const target = i > 0 ? `k${i - 1}@example.com` : 'alice@example.com';
    const [u, al] = await Promise.all([call('user_add', { email, password: `kill-pass-${i}` }, a, sa), call('alias_add', { alias, target }, b, sb)]);
    for (const [c, ok] of [
      [u, () => created.add(email)],
      [al, () => aliased.set(alias, target)],
    ] as const) {
      calls++;
      if (c.status === UBUS.TIMEOUT) killed++;
      else if (c.status === UBUS.OK && c.data?.error === undefined) ok();
    }
    // Every file stays whole after every kill.
    storedUsers();
    storedAliases();
    tornTemps += readdirSync(configDir).filter((n) => n.startsWith('.tmp-')).length;
  }
  assert.ok(killed >= calls / 4, `only ${killed} of ${calls} calls were killed`);
  // The next call is not blocked by a lock the killed writers held, and sees everything acknowledged.
  const next = await call('user_add', { email: 'after-kill@example.com', password: 'after-kill-pass' });
  assert.is(next.status, UBUS.OK);
  assert.is(next.data?.error, undefined, String(next.data?.error));
  const users = storedUsers();
  for (const e of [...created, 'after-kill@example.com']) assert.ok(users.has(e), `${e} acknowledged but missing`);
  const aliases = storedAliases();
  for (const [a, target] of aliased) assert.ok(aliases.get(a)?.includes(target), `${a} acknowledged but missing`);
  // With the worker on, a write whose front was killed still finishes there (atomically): wait for it.
  const temps = () => readdirSync(configDir).filter((n) => n.startsWith('.tmp-'));
  await eventually(async () => temps().length === 0, WORKER_ON ? 30_000 : 0);
  assert.equal(temps(), [], 'temp files of killed writers are cleaned up');
  process.stdout.write(
    `  user_add takes ${d.toFixed(0)} ms; timeouts ${timeouts.join('/')} ms: ${killed} of ${calls} calls killed (${tornTemps} temp files seen between calls); ${created.size} users and ${aliased.size} aliases acknowledged\n`,
  );
});

// --- jobs -----------------------------------------------------------------------------------

let installJob = '';

test('a job method answers at once while its job still runs; job_status follows it to done', async () => {
  const c = await call('install', {});
  const record = jobRecord(String(c.data?.job));
  const runnerAliveAtReply = record !== null && processAlive(record.pid);
  assert.is(c.status, UBUS.OK, 'not held open until the timeout');
  assert.equal(Object.keys(c.data ?? {}).sort(), ['job', 'kind', 'state'], JSON.stringify(c.data));
  assert.is(c.data!.kind, 'install');
  assert.is(c.data!.state, 'running');
  assert.ok(runnerAliveAtReply, 'the reply arrived while the job runner was still running');
  installJob = String(c.data!.job);
  const seen: string[] = [];
  const job = await waitJob(installJob, 120, seen);
  if (job.state !== 'done') process.stdout.write(`  install failed: ${JSON.stringify(job.error)}\n`);
  assert.is(job.state, 'done', `install: ${JSON.stringify(job.error)}`);
  assert.is(job.progress, 100);
  // Whether a poll lands between two phases depends on the machine's speed: the reply's own
  // state 'running' above is what proves the caller sees the job before it ends.
  const list = await call('job_list', {});
  assert.ok((list.data!.items as { id: string }[]).some((j) => j.id === installJob), 'job_list lists it');
});

test('a job whose runner is SIGKILLed is reported failed', async () => {
  const c = await call('install', {});
  assert.is(c.status, UBUS.OK);
  const id = String(c.data!.job);
  const record = jobRecord(id);
  assert.ok(record && record.pid > 0, 'the job records its runner');
  process.kill(record!.pid, 'SIGKILL');
  const job = await waitJob(id, 30);
  assert.is(job.state, 'failed');
  assert.match(String((job.error as { error?: string } | null)?.error), /died|killed/);
});

const holdLock = (scope: string) => holdLockOf(root, scope, NODE_BIN);

test('a job that cannot take its lock fails with code busy', async () => {
  const release = await holdLock('job:install');
  try {
    const c = await call('install', {});
    assert.is(c.status, UBUS.OK);
    const job = await waitJob(String(c.data!.job), 30);
    assert.is(job.state, 'failed');
    assert.is((job.error as { code?: string }).code, 'busy', JSON.stringify(job.error));
  } finally {
    await release();
  }
  const again = await call('install', {});
  const job = await waitJob(String(again.data!.job), 120);
  assert.is(job.state, 'done', `the next install runs once the lock is free: ${JSON.stringify(job.error)}`);
});

test.run();
