// clamav-milter's wait for clamd (runtime/clamav.ts clamavMilterAfterClamd), run by the shells
// that run it: dash (Debian, the container) and busybox ash (OpenWrt, where `kill -0 ""` succeeds).
// It starts the milter once clamd's socket is there and its pid file names a live process; in a
// container it gives up after its bound without a live clamd, however long clamd takes to load
// while it lives; under procd it never gives up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { clamavMilterAfterClamd } from '../../src-rpc/runtime/clamav.ts';
import type { Layout } from '../../src-rpc/core/layout.ts';

const box = makeSandbox();
process.env.MAILSERVER_ROOT = box.root;
if (spawnSync('busybox', ['true']).status !== 0) throw new Error('busybox is missing: run scripts/setup.sh (apt-get install busybox)');
const SHELLS = [['dash'], ['busybox', 'sh']];

// Only the milter's configuration path comes from the layout; its command is replaced below.
const layout = { configDir: join(box.root, 'config') } as Layout;
const inContainer = clamavMilterAfterClamd(layout, { kind: 'container', path: (p) => p });
const underProcd = clamavMilterAfterClamd(layout);
const [socket, pidFile] = inContainer.slice(4, 6) as [string, string];
mkdirSync(join(socket, '..'), { recursive: true });

/** The wait as `shell` runs it, with `bound` seconds and a milter that prints "milter". */
function wait(shell: string[], argv: string[], bound = argv[6]!): { child: ChildProcess; done: Promise<{ code: number | null; out: string; seconds: number }> } {
  const started = Date.now();
  const [cmd, ...args] = shell;
  const child = spawn(cmd!, [...args, '-c', argv[2]!, argv[3]!, argv[4]!, argv[5]!, bound, 'echo', 'milter'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  // A wait that never ends fails its test instead of hanging the run.
  const guard = setTimeout(() => child.kill(), 20_000);
  const done = new Promise<{ code: number | null; out: string; seconds: number }>((resolve) =>
    child.on('close', (code) => (clearTimeout(guard), resolve({ code, out, seconds: (Date.now() - started) / 1000 }))),
  );
  return { child, done };
}

let server: Server | undefined;
const bindSocket = () => new Promise<void>((resolve) => (server = createServer().listen(socket, resolve)));
const unbindSocket = () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

test.after(async () => {
  await unbindSocket();
  box.cleanup();
});

test('bounds: 10 s in a container, none under procd (which restarts clamd itself)', () => {
  assert.is(inContainer[6], '10');
  assert.is(underProcd[6], '0');
});

for (const shell of SHELLS) {
  const name = shell.join(' ');

  test(`${name}: no clamd at all: gives up after its bound, the milter not started`, async () => {
    const r = await wait(shell, inContainer, '2').done;
    assert.is(r.code, 1);
    assert.is(r.out, '');
  });

  test(`${name}: a socket and pid file a dead clamd left: not a clamd, gives up`, async () => {
    await bindSocket();
    writeFileSync(pidFile, '999999999\n'); // beyond any pid_max
    const r = await wait(shell, inContainer, '2').done;
    await unbindSocket();
    assert.is(r.code, 1);
    assert.is(r.out, '');
  });

  test(`${name}: a clamd that lives but loads longer than the bound: waited for, then the milter starts`, async () => {
    const clamd = spawn('sleep', ['60']);
    writeFileSync(pidFile, `${clamd.pid}\n`);
    const w = wait(shell, inContainer, '2');
    setTimeout(() => void bindSocket(), 3500);
    const r = await w.done;
    clamd.kill();
    await unbindSocket();
    assert.is(r.code, 0);
    assert.is(r.out, 'milter\n');
    assert.ok(r.seconds >= 3, `started after ${r.seconds} s, before the socket`);
  });

  test(`${name}: under procd no clamd is waited for without end`, async () => {
    writeFileSync(pidFile, '');
    const w = wait(shell, underProcd);
    const early = await Promise.race([w.done, new Promise<null>((resolve) => setTimeout(() => resolve(null), 3000))]);
    w.child.kill();
    assert.is(early, null, `gave up: ${JSON.stringify(early)}`);
  });
}

test.run();
