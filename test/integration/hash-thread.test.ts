// The warm worker's hashing thread (sys/hash-threads hashSoon, lib/hash-worker.js as built): a
// password is hashed on the thread once it is up, on this thread before; a thread that dies
// mid-hash leaves the hash to the caller. Every hash is a valid SHA512-CRYPT of its password.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { endHashThread, hashOnThread, hashSoon } from '../../src-rpc/sys/hash-threads.ts';
import { verifySha512Crypt } from '../../src-rpc/sys/sha512crypt.ts';

const HASH_WORKER = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'rpcd', 'lib', 'hash-worker.js');
const dir = mkdtempSync(join(tmpdir(), 'hash-thread-'));
const log = join(dir, 'thread.log');
const sent = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);

/** A hashing thread that notes each list it is sent in the log, and then runs `onMessage`; `body` is the rest of it. */
function threadScript(name: string, { onMessage = '', body = '' }: { onMessage?: string; body?: string }): string {
  const script = join(dir, `${name}.cjs`);
  const note = `require('node:fs').appendFileSync(${JSON.stringify(log)}, p.length + '\\n');`;
  writeFileSync(script, `require('node:worker_threads').parentPort.on('message', (p) => { ${note} ${onMessage} });\n${body}\n`);
  return script;
}

/** Hashes passwords (each checked) until one has gone to the thread. */
async function hashUntilSent(): Promise<void> {
  for (let i = 1; i <= 200; i++) {
    const password = `password ${i}`;
    assert.ok(verifySha512Crypt(password, await hashSoon(password)()), `hash ${i} is the password's`);
    if (sent() > 0) return;
    await sleep(50);
  }
  throw new Error('no password reached the thread in 10 s');
}

test.after(() => {
  endHashThread();
  hashOnThread(undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('without a thread the hash is made here', async () => {
  hashOnThread(undefined);
  assert.ok(verifySha512Crypt('here', await hashSoon('here')()));
});

test('the first hash of a burst is made here while the thread starts; once it is up, on the thread', async () => {
  rmSync(log, { force: true });
  // The real hash-worker.js adds its own listener: both see each list.
  hashOnThread(threadScript('real', { body: `require(${JSON.stringify(HASH_WORKER)});` }));
  assert.ok(existsSync(HASH_WORKER), `${HASH_WORKER} is built`);
  const first = hashSoon('first');
  assert.ok(verifySha512Crypt('first', await first()));
  assert.is(sent(), 0, 'the first password never went to a thread that was not up');
  await hashUntilSent();
  const before = sent();
  const password = 'on the thread';
  assert.ok(verifySha512Crypt(password, await hashSoon(password)()));
  assert.is(sent(), before + 1);
  endHashThread();
});

test('a thread that dies with the password leaves its hash to the caller', async () => {
  rmSync(log, { force: true });
  hashOnThread(threadScript('dying', { onMessage: 'process.exit(3);' }));
  await hashUntilSent();
});

test.run();
