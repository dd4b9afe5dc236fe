// The warm path of the rpcd plugin (src-rpc/rpcd/worker.ts and its sh front): the worker is
// SIGKILLed at random points of writes and nothing is lost or locked; a write by another door is
// seen by the next warm call; rpcd's timeout kills only its own call; a SIGTERM lets the call in
// flight finish; the worker leaves when idle;
// the front works under busybox ash with busybox applets only (as on OpenWrt).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, makeSandbox } from '../support/sandbox.ts';
import { mailctl, writeConfig } from '../support/mailctl.ts';
import { startRpcd, UBUS, type Rpcd } from '../support/rpcd-emulator.ts';
import { FRONT_TOOLS, stopWorker, waitForWorker, workerDir, workerPid } from '../support/worker.ts';
import { processRunning } from '../../src-rpc/sys/proc.ts';
import { scopeDirName } from '../../src-rpc/sys/lock.ts';
import { holdLock } from '../support/lock-holder.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PLUGIN = join(REPO, 'rpcd', 'luci.mailserver');
const BUNDLE = join(REPO, 'rpcd', 'luci.mailserver.js');
const CI = process.env.CI === 'true';
const KILLS = 100;

const box = makeSandbox('mailserver-warm-');
const root = box.root;
const configDir = join(root, 'srv/mailserver/config');
const env = { MAILSERVER_ROOT: root, PATH: process.env.PATH ?? '/usr/bin:/bin' };
const emulators: Rpcd[] = [];
const tempDirs: string[] = [];

test.before(() => {
  writeConfig(root, { workerIdle: 600 });
});

test.after(async () => {
  for (const r of emulators) r.close();
  await stopWorker(root);
  box.cleanup();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

interface Ran {
  stdout: string;
  stderr: string;
}

/** The front as rpcd runs it: `call <method>`, arguments on stdin. */
function front(method: string, input: string, opts: { env?: Record<string, string>; shell?: string[] } = {}): Promise<Ran> {
  return new Promise((done) => {
    const argv = [...(opts.shell ?? []), PLUGIN, 'call', method];
    const child = spawn(argv[0]!, argv.slice(1), { env: opts.env ?? env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    child.on('close', () => done({ stdout, stderr }));
    child.stdin.end(input);
  });
}

function cold(method: string, input: string): string {
  return spawnSync(process.execPath, [BUNDLE, 'call', method], { env, input, encoding: 'utf8' }).stdout;
}

/** A directory of links to these programs, nothing else: a PATH without node proves a warm answer. */
function binDir(tools: Record<string, string>): string {
  const dir = mkdtempSync('/tmp/warm-bin-');
  tempDirs.push(dir);
  for (const [name, target] of Object.entries(tools)) symlinkSync(target, join(dir, name));
  return dir;
}
const which = (tool: string) => spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
const warmOnlyEnv = () => ({ MAILSERVER_ROOT: root, PATH: binDir(Object.fromEntries(FRONT_TOOLS.map((t) => [t, which(t)]))) });

function reply(r: Ran, label: string): Record<string, unknown> {
  assert.is(r.stderr, '', `${label}: stderr`);
  let v: unknown;
  try {
    v = JSON.parse(r.stdout);
  } catch {
    assert.unreachable(`${label}: not one JSON object: ${JSON.stringify(r.stdout.slice(0, 300))}`);
  }
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${label}: an object`);
  return v as Record<string, unknown>;
}

const HASH = /^\{SHA512-CRYPT\}\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/;

/** Strict reads: a torn or half-written file throws. */
function users(): Set<string> {
  const text = existsSync(join(configDir, 'users')) ? readFileSync(join(configDir, 'users'), 'utf8') : '';
  if (text !== '' && !text.endsWith('\n')) throw new Error('users does not end with a newline');
  const out = new Set<string>();
  for (const line of text === '' ? [] : text.slice(0, -1).split('\n')) {
    const m = /^([a-z0-9._+-]+@[a-z0-9.-]+):([^:]+)::::::(userdb_quota_rule=\S+)?$/.exec(line);
    if (!m || !HASH.test(m[2]!)) throw new Error(`users: malformed line ${JSON.stringify(line)}`);
    out.add(m[1]!);
  }
  return out;
}

function aliases(): Map<string, string> {
  const path = join(configDir, 'valias');
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (text !== '' && !text.endsWith('\n')) throw new Error('valias does not end with a newline');
  const out = new Map<string, string>();
  for (const line of text === '' ? [] : text.slice(0, -1).split('\n')) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`valias: malformed line ${JSON.stringify(line)}`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The worker, started by a cold call when none runs (a call the worker answered starts none). */
async function ensureWorker(): Promise<number> {
  if (!workerPid(root)) reply(await front('status', '{}'), 'status');
  return waitForWorker(root);
}
const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

test('cold call starts the worker in the background; warm answers without node on PATH', async () => {
  reply(await front('user_add', '{"email":"first@example.com","password":"first-pass-123"}'), 'first call');
  await waitForWorker(root);
  const r = reply(await front('user_list', '{"limit":25}', { env: warmOnlyEnv() }), 'warm user_list');
  assert.equal(r.items, [{ email: 'first@example.com', quota: null, usage: 0 }]);
});

test('a warm write removes the old versions it kept for undo, once it has replied', async () => {
  const pid = await ensureWorker();
  const backups = () => readdirSync(configDir).filter((n) => n.startsWith('.tmp-undo-'));
  reply(await front('user_add', '{"email":"backups@example.com","password":"backups-pass-123"}', { env: warmOnlyEnv() }), 'warm user_add');
  assert.ok(await eventually(async () => backups().length === 0, 10_000, 50), `left: ${backups().join(', ')}`);
  assert.is(workerPid(root), pid, 'the worker answered');
});

test('a write by another door is seen by the very next warm call', async () => {
  const pid = await waitForWorker(root);
  mailctl(root, ['user', 'add', 'cli@example.com', '--password-stdin'], 'cli-pass-123\n');
  const list = reply(await front('user_list', '{"search":"cli@"}', { env: warmOnlyEnv() }), 'after mailctl');
  assert.is(list.total, 1, 'the mailbox mailctl added');
  // UCI changed behind our back (as `uci commit` would): an extra domain.
  writeConfig(root, { workerIdle: 600, extraDomains: ['example.org'] });
  const domains = reply(await front('domain_list', '{}', { env: warmOnlyEnv() }), 'after a UCI edit');
  assert.ok(JSON.stringify(domains).includes('example.org'), JSON.stringify(domains));
  assert.is(workerPid(root), pid, 'the same worker answered');
});

test(`the worker SIGKILLed at random points of ${KILLS} writes: every file old or new, every call answers, no lock stuck`, async () => {
  // How long a warm write takes here, so kills spread before, during and after it.
  await ensureWorker();
  const t = performance.now();
  reply(await front('user_add', '{"email":"timing@example.com","password":"timing-pass-123"}', { env: warmOnlyEnv() }), 'timing');
  const writeMs = performance.now() - t;
  let answeredWarm = 0;
  for (let i = 0; i < KILLS; i++) {
    const pid = await ensureWorker();
    const beforeUsers = users();
    const beforeAliases = aliases();
    const email = `kill${i}@example.com`;
    const isAlias = i % 3 === 2;
    const [method, input] = isAlias
      ? ['alias_add', JSON.stringify({ alias: `ka${i}@example.com`, target: 'first@example.com' })]
      : ['user_add', JSON.stringify({ email, password: `kill-pass-${i}` })];
    const call = front(method, input);
    await sleep(Math.random() * writeMs * 1.5);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // it had just left: the write still went through a whole worker or cold
    }
    const r = reply(await call, `${method} #${i}`);
    // The next round waits for a new worker, not for this one's pid file.
    assert.ok(await eventually(async () => !processRunning(pid), 30_000), `worker ${pid} is gone after SIGKILL`);
    const afterUsers = users();
    const afterAliases = aliases();
    if (isAlias) {
      const grown = new Map(beforeAliases).set(`ka${i}@example.com`, 'first@example.com');
      const same = (a: Map<string, string>, b: Map<string, string>) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
      assert.ok(same(afterAliases, beforeAliases) || same(afterAliases, grown), `valias is neither old nor new after kill #${i}`);
      assert.ok(r.error === undefined || r.code === 'exists' || r.code === 'conflict', `#${i}: ${JSON.stringify(r)}`);
      assert.ok(afterAliases.has(`ka${i}@example.com`), `#${i}: acknowledged alias missing`);
    } else {
      assert.ok(sameSet(afterUsers, beforeUsers) || sameSet(afterUsers, new Set([...beforeUsers, email])), `users is neither old nor new after kill #${i}`);
      // Answered by the worker before it died, or run again cold (which then finds it done).
      assert.ok(r.error === undefined || r.code === 'exists', `#${i}: ${JSON.stringify(r)}`);
      assert.ok(afterUsers.has(email), `#${i}: acknowledged mailbox missing`);
    }
    if (r.error === undefined) answeredWarm++;
  }
  // The next write is not blocked by anything the killed workers held.
  const next = reply(await front('user_add', '{"email":"after@example.com","password":"after-pass-123"}'), 'after the kills');
  assert.is(next.error, undefined, String(next.error));
  // (A warm writer removes its undo backups just after replying.)
  const temps = () => readdirSync(configDir).filter((n) => n.startsWith('.tmp-'));
  assert.ok(await eventually(async () => temps().length === 0, 10_000, 50), `temp files left: ${temps().join(', ')}`);
  process.stdout.write(`  ${KILLS} kills within ${(writeMs * 1.5).toFixed(0)} ms of a write; ${answeredWarm} calls answered without error\n`);
});

test("rpcd's timeout kills the call it belongs to and nothing else", async () => {
  const pid = await ensureWorker();
  const login = { username: 'root', password: 'pw', read: ['*'], write: ['*'] };
  const impatient = await startRpcd({ logins: [login], env, timeoutMs: 2000 });
  const patient = await startRpcd({ logins: [login], env });
  emulators.push(impatient, patient);
  const release = await holdLock(root, 'write');
  let released = false;
  try {
    const slow = impatient.call('', 'luci.mailserver', 'user_add', { email: 'late@example.com', password: 'late-pass-123' });
    await sleep(300);
    const [readStatus, list] = await patient.call('', 'luci.mailserver', 'user_list', { search: 'first@' });
    assert.is(readStatus, UBUS.OK, 'a read answers while the write waits for the lock');
    assert.is((list as { total: number }).total, 1);
    assert.equal(await slow, [UBUS.TIMEOUT], 'the waiting write is timed out');
    assert.is(workerPid(root), pid, 'the worker outlived the timed-out call');
    await release();
    released = true;
    // The worker finishes the write it had taken on (atomically, under the lock).
    assert.ok(await eventually(async () => users().has('late@example.com'), 30_000), 'the write went through once the lock was free');
    const [status] = await patient.call('', 'luci.mailserver', 'status', {});
    assert.is(status, UBUS.OK);
  } finally {
    if (!released) await release();
  }
});

/** The write lock's queue (sys/lock.ts: `q.<ticket>.<pid>-<start>-<n>` while waiting or holding). */
function writeQueue(): string[] {
  const dir = join(root, 'var/run/mailserver/locks', scopeDirName('write'));
  return existsSync(dir) ? readdirSync(dir) : [];
}

test('SIGTERM while a warm write is in flight: the worker answers it, then leaves', async () => {
  const pid = await ensureWorker();
  const release = await holdLock(root, 'write');
  let released = false;
  try {
    // No node on PATH: a call the worker dropped would fail in the front instead of running cold.
    const call = front('user_add', '{"email":"term@example.com","password":"term-pass-123"}', { env: warmOnlyEnv() });
    assert.ok(await eventually(async () => writeQueue().some((n) => n.startsWith('q.') && n.includes(`.${pid}-`)), 30_000, 20), 'the worker waits in line for the lock');
    process.kill(pid, 'SIGTERM');
    await sleep(300);
    assert.ok(processRunning(pid), 'the worker stays for the call in flight');
    await release();
    released = true;
    assert.equal(reply(await call, 'the write in flight'), { email: 'term@example.com', quota: null });
    assert.ok(users().has('term@example.com'));
    assert.ok(await eventually(async () => !processRunning(pid), 10_000), 'then it leaves');
    assert.is(workerPid(root), null);
  } finally {
    if (!released) await release();
  }
});

test('busybox ash with busybox applets only: warm and cold replies identical', async () => {
  const busybox = which('busybox');
  if (!busybox) {
    if (CI) assert.unreachable('busybox is missing (scripts/setup.sh installs it)');
    process.stdout.write('  SKIPPED: busybox not installed (apt-get install busybox)\n');
    return;
  }
  const applets = mkdtempSync('/tmp/warm-busybox-');
  tempDirs.push(applets);
  spawnSync(busybox, ['--install', '-s', applets]);
  const nodeOnly = binDir({ node: process.execPath });
  const sh = [join(applets, 'sh')];
  await ensureWorker();
  const cases: [string, string][] = [
    ['user_list', '{"limit":25}'],
    ['status', '{}'],
    ['alias_list', '{"search":"ka1"}'],
    ['user_add', '{"email":"x"}'],
  ];
  for (const [method, input] of cases) {
    const warm = await front(method, input, { shell: sh, env: { MAILSERVER_ROOT: root, PATH: applets } });
    reply(warm, `busybox warm ${method}`);
    assert.is(warm.stdout, cold(method, input), `busybox warm ${method}: differs from cold`);
  }
  // Worker gone: the same front runs the call cold (node found on PATH) and starts a worker again.
  await stopWorker(root);
  const coldRun = await front('user_list', '{"limit":25}', { shell: sh, env: { MAILSERVER_ROOT: root, PATH: `${applets}:${nodeOnly}` } });
  assert.is(coldRun.stdout, cold('user_list', '{"limit":25}'), 'busybox cold user_list');
  await waitForWorker(root);
});

test('warm calls in a row, under dash and busybox ash, each answer their own arguments (no node on PATH)', async () => {
  // The worker opens each front's answer pipe through /proc just as the front is writing its
  // line to the door: a front that then got no answer would fail here, having no node to go cold.
  const busybox = which('busybox');
  if (!busybox && CI) assert.unreachable('busybox is missing (scripts/setup.sh installs it)');
  const shells: [string, { env: Record<string, string>; shell?: string[] }][] = [['dash', { env: warmOnlyEnv() }]];
  if (busybox) {
    const applets = mkdtempSync('/tmp/warm-busybox-');
    tempDirs.push(applets);
    spawnSync(busybox, ['--install', '-s', applets]);
    shells.push(['busybox', { env: { MAILSERVER_ROOT: root, PATH: applets }, shell: [join(applets, 'sh')] }]);
  }
  await ensureWorker();
  const inputs = ['{"limit":1}', '{"limit":2}', '{"limit":3,"offset":1}'];
  const expected = inputs.map((input) => cold('user_list', input));
  for (let i = 0; i < 30; i++) {
    for (const [label, opts] of shells) {
      const r = await front('user_list', inputs[i % 3]!, opts);
      assert.is(r.stdout, expected[i % 3], `${label}, call ${i + 1}: ${r.stderr}`);
    }
  }
});

test('a call whose arguments file is gone is answered with an error, not run without them', async () => {
  await ensureWorker();
  // A front as src-rpc/rpcd/front.sh speaks to the door, but with no .in file for its pid.
  const lone = spawnSync(
    '/bin/sh',
    ['-c', 'answer=$(read -r self _ </proc/self/stat; exec 4>&1; printf "%s user_list %s\\n" "$$" "$self" 1<>"$1"; exec sleep 60); printf "%s" "$answer"', 'front', join(workerDir(root), 'door-v2')],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.match(lone.stdout, /^=\{"error":"the call's arguments were lost before the worker read them/, JSON.stringify(lone));
});

test('an idle worker exits after main.worker_idle seconds; 0 starts none', async () => {
  const idleBox = makeSandbox('mailserver-idle-');
  try {
    writeConfig(idleBox.root, { workerIdle: 2 });
    const idleEnv = { MAILSERVER_ROOT: idleBox.root, PATH: env.PATH };
    reply(await front('status', '{}', { env: idleEnv }), 'status');
    const pid = await waitForWorker(idleBox.root);
    const gone = await eventually(async () => !processRunning(pid), 60_000);
    assert.ok(gone, `the worker exited when idle (${pid}: ${existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0, 60) : 'gone'}; pid file ${workerPid(idleBox.root)})`);
    assert.is(workerPid(idleBox.root), null);
    assert.not.ok(existsSync(join(workerDir(idleBox.root), 'door-v2')), 'its door is gone');
    reply(await front('status', '{}', { env: idleEnv }), 'a cold call after it left');
    await waitForWorker(idleBox.root);
    await stopWorker(idleBox.root);
    writeConfig(idleBox.root, { workerIdle: 0 });
    reply(await front('status', '{}', { env: idleEnv }), 'status with worker_idle 0');
    await sleep(1500);
    assert.is(workerPid(idleBox.root), null, 'worker_idle 0: no worker');
  } finally {
    await stopWorker(idleBox.root);
    idleBox.cleanup();
  }
});

test.run();
