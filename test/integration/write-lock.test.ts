// The write lock as rpcd's parallel calls meet it: waiting writers are served in the order they
// arrived, a holder SIGKILLed by rpcd's timeout does not keep it, and no other local user can
// hold it (it lives in a root-only directory, not under a name anyone may bind).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox, eventually } from '../support/sandbox.ts';
import { MAILCTL, mailctl, writeConfig } from '../support/mailctl.ts';

/** Wait for a condition or fail with what was awaited. */
async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  assert.ok(await eventually(async () => check(), timeoutMs), `timed out waiting: ${what}`);
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOCK_MODULE = join(REPO, 'src-rpc/sys/lock.ts');
const box = makeSandbox('mailserver-lock-');
const root = box.root;
const locksDir = join(root, 'var/run/mailserver/locks');
const children: ChildProcess[] = [];
test.after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  box.cleanup();
});

/** Every queue entry (waiting or holding) of every lock, in ticket order. */
function queued(): string[] {
  if (!existsSync(locksDir)) return [];
  return readdirSync(locksDir).flatMap((d) => readdirSync(join(locksDir, d)).filter((n) => n.startsWith('q.'))).sort();
}

/** A process (as `uid`, default root) that runs `body` (module code with `withLock` in scope). */
function lockProcess(body: string, uid?: number): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const code = `const { withLock } = await import(${JSON.stringify(LOCK_MODULE)});\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: REPO,
    env: { ...process.env, MAILSERVER_ROOT: root, HOME: '/tmp' },
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  return { child, output: () => out, exited };
}

test.before(() => writeConfig(root));

test('waiting writers are served in the order they arrived', async () => {
  const log = join(root, 'order.log');
  // The holder keeps the lock until its stdin closes.
  const holder = lockProcess(`await withLock('write', 60000, () => new Promise((done) => { process.stdout.write('held\\n'); process.stdin.on('end', done).resume(); }));`);
  await until(() => holder.output().includes('held'), 'the holder takes the lock');
  const waiters = [];
  for (let i = 0; i < 6; i++) {
    const w = lockProcess(`const fs = await import('node:fs');\nawait withLock('write', 120000, () => fs.appendFileSync(${JSON.stringify(log)}, '${i}\\n'));`);
    waiters.push(w);
    // The next one arrives only once this one stands in line.
    await until(() => queued().length === i + 2, `waiter ${i} is in line`);
  }
  holder.child.stdin!.end();
  const codes = await Promise.all(waiters.map((w) => w.exited));
  assert.equal(codes, [0, 0, 0, 0, 0, 0], waiters.map((w) => w.output()).join('\n'));
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['0', '1', '2', '3', '4', '5'], 'served in arrival order');
  assert.equal(queued(), [], 'no entry left behind');
});

test('a holder killed with SIGKILL (rpcd timeout) does not keep the lock, and a waiter behind it goes on', async () => {
  const holder = lockProcess(`await withLock('write', 60000, () => new Promise(() => { process.stdout.write('held\\n'); setInterval(() => {}, 1000); }));`);
  await until(() => holder.output().includes('held'), 'the holder takes the lock');
  const waiter = lockProcess(`await withLock('write', 120000, () => process.stdout.write('got it\\n'));`);
  await until(() => queued().length === 2, 'the waiter is in line');
  holder.child.kill('SIGKILL');
  assert.is(await waiter.exited, 0, waiter.output());
  assert.match(waiter.output(), /got it/);
  // And a write through the real CLI passes at once.
  const r = mailctl(root, ['user', 'add', 'after-kill@example.com', '--password-stdin'], 'after-kill-password\n');
  assert.is(r.code, 0, r.stderr);
  assert.equal(queued(), []);
});

test('an entry is honoured only while the process it names runs: a zombie or a reused pid does not hold the lock', async () => {
  const dir = join(locksDir, readdirSync(locksDir)[0]!);
  const startOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[19]!;
  // A process alive the whole test, named with its real start time: it holds the lock.
  const sleeper = spawn('sleep', ['300']);
  children.push(sleeper);
  const live = join(dir, `q.0000000001.${sleeper.pid}-${startOf(sleeper.pid!)}-test`);
  writeFileSync(live, '');
  const blocked = lockProcess(`let got = 'held'; try { await withLock('write', 1500, () => {}); } catch (e) { got = e.name; } process.stdout.write(got + '\\n');`);
  assert.is(await blocked.exited, 0, blocked.output());
  assert.match(blocked.output(), /LockBusyError/, 'a live process named by its entry makes others wait');
  rmSync(live);
  // A zombie (its parent, exec'd into sleep, never reaps it) and a live pid whose start time is not the one named.
  const parent = spawn('sh', ['-c', 'sleep 0 & exec sleep 300']);
  children.push(parent);
  let zombie = 0;
  await until(() => {
    const kids = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    zombie = kids.find((k) => readFileSync(`/proc/${k}/stat`, 'latin1').split(') ')[1]!.startsWith('Z')) ?? 0;
    return zombie > 0;
  }, 'a zombie child');
  writeFileSync(join(dir, `q.0000000001.${zombie}-${startOf(zombie)}-test`), '');
  writeFileSync(join(dir, `q.0000000002.${sleeper.pid}-1-test`), '');
  const waiter = lockProcess(`await withLock('write', 60000, () => process.stdout.write('got it\\n'));`);
  assert.is(await waiter.exited, 0, waiter.output());
  assert.match(waiter.output(), /got it/);
  assert.equal(queued(), [], 'the stale entries were removed');
  sleeper.kill('SIGKILL');
  parent.kill('SIGKILL');
});

test('as uid nobody, a process cannot hold the lock or make writes wait', async () => {
  // What the old lock allowed: bind its abstract name (no permissions on abstract sockets) and
  // keep it; what the new one must refuse: an entry in the lock directory.
  const attacker = lockProcess(
    `const net = await import('node:net');
const { createHash } = await import('node:crypto');
const old = createHash('sha256').update(${JSON.stringify(root)} + '\\0write').digest('hex').slice(0, 32);
await new Promise((ok) => net.createServer().listen({ path: '\\0secubox-mailserver-' + old }, ok));
let entry = 'created';
try { await new Promise((ok, fail) => net.createServer().once('error', fail).listen({ path: ${JSON.stringify(locksDir)} + '/q.0000000000.x' }, ok)); } catch (e) { entry = e.code; }
let lock = 'held';
try { await withLock('write', 1000, () => {}); } catch (e) { lock = e.code ?? e.message; }
process.stdout.write('entry ' + entry + ', lock ' + lock + '\\n');
setInterval(() => {}, 1000);`,
    65534,
  );
  await until(() => /entry \S+, lock/.test(attacker.output()), `the attacker reports: ${attacker.output()}`);
  assert.match(attacker.output(), /^entry EACCES, lock (?!held)/m, attacker.output());
  const r = mailctl(root, ['user', 'add', 'while-attacked@example.com', '--password-stdin'], 'while-attacked-password\n');
  assert.is(r.code, 0, r.stderr);
  attacker.child.kill('SIGKILL');
});

test('the lock directories get their modes whatever the umask (rpcd runs plugins with 077)', () => {
  const fresh = makeSandbox('mailserver-lock-umask-');
  try {
    writeConfig(fresh.root);
    const r = spawnSync('sh', ['-c', 'umask 077 && exec "$0" "$@"', MAILCTL, 'user', 'add', 'umask@example.com', '--password-stdin'], {
      env: { ...process.env, MAILSERVER_ROOT: fresh.root },
      input: 'umask-password-1\n',
      encoding: 'utf8',
    });
    assert.is(r.status, 0, r.stderr);
    const dirs = join(fresh.root, 'var/run/mailserver/locks');
    assert.is(statSync(join(fresh.root, 'var/run/mailserver')).mode & 0o7777, 0o755, 'daemons reach their run directories below it');
    assert.is(statSync(dirs).mode & 0o7777, 0o700);
    for (const d of readdirSync(dirs)) {
      const st = statSync(join(dirs, d));
      assert.is(st.mode & 0o7777, 0o700, d);
      assert.is(st.uid, 0, d);
    }
  } finally {
    fresh.cleanup();
  }
});

test.run();
