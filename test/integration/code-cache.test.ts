// The executables run their bundle from a V8 code cache kept beside it (src-rpc/sys/code-cache.ts).
// A cache is only ever a shortcut: a damaged one, or one made for another bundle, must neither
// change an answer nor crash the run (Node 20 aborts on damaged cache bytes given to V8), and is
// replaced by a good one. The file holds the cache twice; damage to either copy refuses it. NODE_BIN: the Node the executable runs on (test/run.mjs runs this file
// again with Node 18).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { ok, writeConfig } from '../support/mailctl.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_BIN = process.env.NODE_BIN || process.execPath;
const box = makeSandbox('mailserver-code-cache-');
// A copy of the executable and its bundle: the tree's own cache is left to the other tests.
const bin = mkdtempSync('/tmp/mailserver-code-cache-bin-');
const MAILCTL = join(bin, 'mailctl');
const BUNDLE = join(bin, 'lib', 'mailctl-main.js');
let CACHE = '';
test.after(() => {
  box.cleanup();
  rmSync(bin, { recursive: true, force: true });
});
test.before(() => {
  mkdirSync(join(bin, 'lib'));
  for (const f of ['mailctl', 'package.json', 'lib/mailctl-main.js']) copyFileSync(join(REPO, 'rpcd', f), join(bin, f));
  CACHE = `${BUNDLE}.${nodeVersion().replace(' ', '-')}.v8cache`;
  writeConfig(box.root);
  ok(box.root, ['user', 'add', 'cache@example.com', '--password-stdin'], 'a-long-password-1\n');
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function mailctl(...args: string[]): string {
  return mailctlWith('', ...args);
}

function mailctlWith(input: string, ...args: string[]): string {
  const r = spawnSync(NODE_BIN, [MAILCTL, ...args], { input, encoding: 'utf8', env: { ...process.env, MAILSERVER_ROOT: box.root } });
  assert.is(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  assert.is(r.stderr, '');
  return r.stdout;
}

/** A read call: the run that answers one leaves a "read" cache. */
const run = () => mailctl('user', 'list', '--json');

/** The header line's key and kind, and whether the file is that header's length of cache twice over. */
function cacheState(): { key: string; kind: string; sound: boolean } {
  const bytes = readFileSync(CACHE);
  const end = bytes.indexOf(10);
  const fields = bytes.toString('latin1', 0, end).split(' ');
  const length = Number(fields[4]);
  const copies = [bytes.subarray(end + 1, end + 1 + length), bytes.subarray(end + 1 + length)];
  return { key: fields.slice(0, 3).join(' '), kind: fields[3]!, sound: length > 0 && copies[1]!.length === length && copies[0]!.equals(copies[1]!) };
}

/** The cache file with `damage` applied to the bytes of one copy (0: the one V8 is given, 1: the other). */
function damaged(copy: 0 | 1, damage: (data: Buffer) => void): Buffer {
  const bytes = readFileSync(CACHE);
  const end = bytes.indexOf(10);
  const length = (bytes.length - end - 1) / 2;
  damage(bytes.subarray(end + 1 + copy * length, end + 1 + (copy + 1) * length));
  return bytes;
}

const nodeVersion = () => spawnSync(NODE_BIN, ['-p', 'process.version + " " + process.arch'], { encoding: 'utf8' }).stdout.trim();
const expectedKey = () => `${sha256(readFileSync(BUNDLE))} ${nodeVersion()}`;
const good = (kind = 'read') => ({ key: expectedKey(), kind, sound: true });
let answer = '';

test('the first run writes the cache for this bundle and this Node; the next run takes it and answers the same', () => {
  rmSync(CACHE, { force: true });
  answer = run();
  assert.ok(answer.includes('"cache@example.com"'), answer);
  assert.equal(cacheState(), good());
  const written = statSync(CACHE).mtimeMs;
  const bytes = readFileSync(CACHE);
  assert.is(run(), answer);
  assert.is(statSync(CACHE).mtimeMs, written, 'a cache that fits is not written again');
  assert.ok(readFileSync(CACHE).equals(bytes));
});

test('a run that answers no read call leaves the top level\'s cache; the first read call replaces it once, with more of the code', () => {
  rmSync(CACHE, { force: true });
  assert.match(mailctl('help'), /user add/);
  assert.equal(cacheState(), good('top'));
  const top = statSync(CACHE).size;
  mailctl('help');
  assert.equal(cacheState(), good('top'));
  assert.is(run(), answer);
  assert.equal(cacheState(), good('read'));
  assert.ok(statSync(CACHE).size > top, `read cache ${statSync(CACHE).size} bytes, top ${top}`);
  const written = statSync(CACHE).mtimeMs;
  mailctl('help');
  assert.is(run(), answer);
  assert.is(statSync(CACHE).mtimeMs, written, 'a read cache is kept');
});

for (const copy of [0, 1] as const) {
  test(`a cache damaged in its ${copy === 0 ? 'first' : 'second'} copy is never handed to V8: the run answers the same and writes a good cache`, () => {
    run();
    writeFileSync(CACHE, damaged(copy, (data) => {
      for (let i = 200; i < data.length; i += 97) data[i] = data[i]! ^ 0xff;
    }));
    assert.not.ok(cacheState().sound);
    assert.is(run(), answer);
    assert.equal(cacheState(), good());
    assert.is(run(), answer);
  });
}

test('one flipped bit in the middle of the cache is enough to refuse it', () => {
  run();
  writeFileSync(CACHE, damaged(0, (data) => {
    data[data.length >> 1] = data[data.length >> 1]! ^ 0x10;
  }));
  assert.not.ok(cacheState().sound);
  assert.is(run(), answer);
  assert.equal(cacheState(), good());
});

test('a run given V8 flags (as the warm worker is) answers the same and leaves the cache alone', () => {
  run();
  const bytes = readFileSync(CACHE);
  const r = spawnSync(NODE_BIN, ['--max-semi-space-size=1', MAILCTL, 'user', 'list', '--json'], { encoding: 'utf8', env: { ...process.env, MAILSERVER_ROOT: box.root } });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, answer);
  assert.ok(readFileSync(CACHE).equals(bytes), 'the cache is as it was');
});

test('a cache made for another bundle is ignored and replaced', () => {
  run();
  const bytes = readFileSync(CACHE);
  const end = bytes.indexOf(10);
  const [, version, arch, kind, length] = bytes.toString('latin1', 0, end).split(' ');
  writeFileSync(CACHE, Buffer.concat([Buffer.from(`${'0'.repeat(64)} ${version} ${arch} ${kind} ${length}\n`), bytes.subarray(end + 1)]));
  assert.is(run(), answer);
  assert.equal(cacheState(), good());
});

test('a cache cut short is ignored and replaced', () => {
  run();
  const bytes = readFileSync(CACHE);
  writeFileSync(CACHE, bytes.subarray(0, bytes.length >> 1));
  assert.is(run(), answer);
  assert.equal(cacheState(), good());
});

// Last: the mailboxes it adds change the read call's answer.
test('from a read cache, the first quick user add replaces it once with an "add" cache holding more; from a top cache it writes none', () => {
  const add = (email: string) => assert.is(mailctlWith('a-long-password-1\n', 'user', 'add', email, '--password-stdin'), `created ${email}\n`);
  rmSync(CACHE, { force: true });
  assert.match(mailctl('help'), /user add/);
  add('quick-1@example.com');
  assert.equal(cacheState(), good('top'));
  run();
  assert.equal(cacheState(), good('read'));
  const read = statSync(CACHE).size;
  add('quick-2@example.com');
  assert.equal(cacheState(), good('add'));
  assert.ok(statSync(CACHE).size > read, `add cache ${statSync(CACHE).size} bytes, read ${read}`);
  const written = statSync(CACHE).mtimeMs;
  const listed = run();
  assert.ok(listed.includes('"quick-1@example.com"') && listed.includes('"quick-2@example.com"'), listed);
  add('quick-3@example.com');
  assert.is(statSync(CACHE).mtimeMs, written, 'an add cache is kept');
  assert.ok(run().includes('"quick-3@example.com"'));
});

test.run();
