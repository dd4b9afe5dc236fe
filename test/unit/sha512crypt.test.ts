import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { sha512Crypt, verifySha512Crypt } from '../../src-rpc/sys/sha512crypt.ts';

// Test vectors from https://www.akkadia.org/drepper/SHA-crypt.txt ($6$ section).
const VECTORS: [setting: string, password: string, expected: string][] = [
  ['$6$saltstring', 'Hello world!',
    '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
  ['$6$rounds=10000$saltstringsaltstring', 'Hello world!',
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
  ['$6$rounds=5000$toolongsaltstring', 'This is just a test',
    '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0'],
  ['$6$rounds=1400$anotherlongsaltstring',
    'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
  ['$6$rounds=77777$short', 'we have a short salt string but not a short password',
    '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0'],
  ['$6$rounds=123456$asaltof16chars..', 'a short string',
    '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1'],
  ['$6$rounds=10$roundstoolow', 'the minimum number is still observed',
    '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.'],
];

test('Drepper test vectors', () => {
  for (const [setting, password, expected] of VECTORS) {
    assert.is(sha512Crypt(password, setting), expected, setting);
    assert.ok(verifySha512Crypt(password, expected), `verify ${setting}`);
  }
});

test('bare salt and rounds argument', () => {
  assert.is(sha512Crypt('Hello world!', 'saltstring'), VECTORS[0]![2]);
  // 5000 is the default and is written without the rounds= prefix.
  assert.is(sha512Crypt('Hello world!', 'saltstring', 5000), VECTORS[0]![2]);
  assert.is(sha512Crypt('Hello world!', 'saltstringsaltstring', 10000), VECTORS[1]![2]);
  assert.is(sha512Crypt('the minimum number is still observed', 'roundstoolow', 10), VECTORS[6]![2]);
});

test('random salt: 16 crypt-alphabet chars, differs each time', () => {
  const a = sha512Crypt('same password');
  const b = sha512Crypt('same password');
  assert.match(a, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  assert.is.not(a, b);
  assert.ok(verifySha512Crypt('same password', a));
  assert.ok(verifySha512Crypt('same password', b));
});

test('salt that could break the users file is refused', () => {
  for (const bad of ['a:b', 'a\nb', 'sp ace', 'ü']) assert.throws(() => sha512Crypt('x', bad));
});

test('verify rejects wrong passwords and malformed hashes', () => {
  const h = sha512Crypt('right password');
  assert.not.ok(verifySha512Crypt('wrong password', h));
  assert.not.ok(verifySha512Crypt('right passwor', h));
  assert.not.ok(verifySha512Crypt('right password', h.slice(0, -1)));
  assert.not.ok(verifySha512Crypt('right password', '$1$abc$def'));
  assert.not.ok(verifySha512Crypt('right password', ''));
  assert.not.ok(verifySha512Crypt('right password', '$6$a:b$xyz'));
});

const CHARS = 'abcXYZ0189 :;!@#$%^&*()\'"\\/<>?,.`~-_=+[]{}|äöüßéñ€中文日本語😀Ωπ';
function randomPassword(): string {
  const chars = [...CHARS];
  let s = '';
  const len = randomInt(8, 40);
  for (let i = 0; i < len; i++) s += chars[randomInt(chars.length)];
  return s;
}

function doveadmAccepts(hash: string, password: string): boolean {
  const r = spawnSync('doveadm', ['pw', '-t', `{SHA512-CRYPT}${hash}`, '-p', password], { encoding: 'utf8' });
  return r.status === 0;
}

const PY = 'import crypt,sys; p=sys.stdin.buffer.read().decode("utf-8"); h=sys.argv[1]; sys.exit(0 if crypt.crypt(p,h)==h else 1)';
function pythonAccepts(hash: string, password: string): boolean {
  const r = spawnSync('/usr/bin/python3', ['-W', 'ignore', '-c', PY, hash], { input: Buffer.from(password, 'utf8') });
  return r.status === 0;
}

test('20 random passwords (unicode, ":" and spaces) verify in doveadm and glibc crypt', () => {
  const passwords = [randomPassword(), 'with: colon and spaces', 'ünïcödé 密码 😀', ...Array.from({ length: 17 }, randomPassword)];
  for (const pw of passwords) {
    const h = sha512Crypt(pw);
    assert.ok(doveadmAccepts(h, pw), `doveadm rejected ${JSON.stringify(pw)} ${h}`);
    assert.ok(pythonAccepts(h, pw), `python crypt rejected ${JSON.stringify(pw)} ${h}`);
    assert.ok(verifySha512Crypt(pw, h));
  }
  const custom = sha512Crypt(passwords[0]!, undefined, 7777);
  assert.ok(doveadmAccepts(custom, passwords[0]!));
  assert.ok(pythonAccepts(custom, passwords[0]!));
});

test('wrong password is rejected by doveadm and verifySha512Crypt', () => {
  const h = sha512Crypt('the right one: ok');
  assert.not.ok(doveadmAccepts(h, 'the right one: ok '));
  assert.not.ok(pythonAccepts(h, 'The right one: ok'));
  assert.not.ok(verifySha512Crypt('the right one: ok ', h));
});

test.run();
