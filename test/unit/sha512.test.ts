import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha512 } from '../../src-rpc/sys/sha512.ts';
import { sha512Crypt } from '../../src-rpc/sys/sha512crypt.ts';
import { randomBytes as urandom } from '../../src-rpc/sys/random.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const nodeSha512 = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha512')).digest();

test('FIPS 180-4 examples', () => {
  assert.is(sha512(Buffer.from('abc')).toString('hex'), 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
  assert.is(sha512().toString('hex'), 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e');
});

test('every length around the block and padding edges, as node:crypto', () => {
  for (let len = 0; len <= 400; len++) {
    const data = randomBytes(len);
    assert.ok(sha512(data).equals(nodeSha512(data)), `length ${len}`);
  }
});

test('input in parts, and larger than the module memory, as node:crypto', () => {
  for (let i = 0; i < 200; i++) {
    const parts = Array.from({ length: 1 + (i % 7) }, () => randomBytes(Math.floor(Math.random() * 300)));
    assert.ok(sha512(...parts).equals(nodeSha512(...parts)), `parts ${parts.map((p) => p.length).join('+')}`);
  }
  const big = randomBytes(300_000);
  assert.ok(sha512(big).equals(nodeSha512(big)));
  assert.ok(sha512(big.subarray(0, 1), big, big.subarray(5)).equals(nodeSha512(big.subarray(0, 1), big, big.subarray(5))));
});

test('digests do not share memory: an earlier result stays as it was', () => {
  const first = sha512(Buffer.from('one'));
  const copy = Buffer.from(first);
  sha512(Buffer.from('two'));
  assert.ok(first.equals(copy));
});

test('the committed module is what wat2wasm makes of sha512.wat', () => {
  if (spawnSync('wat2wasm', ['--version']).error) {
    assert.not.ok(process.env.CI === 'true', 'wat2wasm (Debian package wabt) is missing');
    console.log('  skipped: wat2wasm (wabt) is not installed');
    return;
  }
  const r = spawnSync(process.execPath, [join(REPO, 'scripts/wasm.mjs'), '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test('without WebAssembly (node --jitless) the digests and SHA512-CRYPT are the same', () => {
  const code = `const { sha512 } = await import(${JSON.stringify(join(REPO, 'src-rpc/sys/sha512.ts'))});
const { sha512Crypt } = await import(${JSON.stringify(join(REPO, 'src-rpc/sys/sha512crypt.ts'))});
process.stdout.write(JSON.stringify([typeof WebAssembly, sha512(Buffer.from('abc')).toString('hex'), sha512Crypt('Hello world!', '$6$saltstring'), sha512Crypt('Hello world!', '$6$rounds=1400$saltstring')]));`;
  const r = spawnSync(process.execPath, ['--jitless', '--no-warnings', '--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const [wasmType, abc, crypt, crypt1400] = JSON.parse(r.stdout) as string[];
  assert.is(wasmType, 'undefined', 'this run has no WebAssembly');
  assert.is(abc, sha512(Buffer.from('abc')).toString('hex'));
  assert.is(crypt, '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
  assert.is(crypt1400, sha512Crypt('Hello world!', '$6$rounds=1400$saltstring'));
});

test('random bytes from /dev/urandom: the length asked, different each time', () => {
  assert.is(urandom(0).length, 0);
  const a = urandom(32);
  assert.is(a.length, 32);
  assert.not.ok(a.equals(urandom(32)));
  // Every value of a byte turns up among 64 KiB of them.
  assert.is(new Set(urandom(65536)).size, 256);
});

test.run();
