// A cold call does not validate /etc/config/mailserver again when the last process left its
// settings for this very text and this very code (config/load.ts, sys/run-memo.ts). What is read
// back must be exactly what validating would give, so the key must hold: any change to the file,
// another build, or a torn memo means validating again; a bad file is refused every time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { mailctl, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox('mailserver-settings-memo-');
const root = box.root;
const memo = join(root, 'var/run/mailserver/settings.json');
const uciFile = join(root, 'etc/config/mailserver');

test.after(() => box.cleanup());

/** The domains a cold `domain list` answers with. */
function domains(): string[] {
  const r = mailctl(root, ['--json', 'domain', 'list']);
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { items: { domain: string }[] }).items.map((d) => d.domain);
}

const readMemo = () => JSON.parse(readFileSync(memo, 'utf8')) as { key: string; value: { main: { domain: string } } };

/** The memo as it is, but saying the primary domain is `domain`: a memo read back shows it. */
function memoSaying(domain: string, key = readMemo().key): void {
  const m = readMemo();
  writeFileSync(memo, JSON.stringify({ key, value: { ...m.value, main: { ...m.value.main, domain } } }));
}

test('a call leaves the settings keyed by the code and the whole text, root-only', () => {
  writeConfig(root);
  assert.equal(domains(), ['example.com']);
  const { key, value } = readMemo();
  assert.match(key, /^[0-9a-f]{64}\n/);
  assert.is(key.slice(65), readFileSync(uciFile, 'utf8'));
  assert.is(value.main.domain, 'example.com');
  assert.is(statSync(memo).mode & 0o777, 0o600);
});

test('the next call takes them from the memo instead of validating again', () => {
  memoSaying('memo.example');
  assert.equal(domains(), ['memo.example']);
});

test('any change to the file is validated again, and the memo follows it', () => {
  memoSaying('memo.example');
  writeFileSync(uciFile, `${readFileSync(uciFile, 'utf8')}\n# a comment changes the text, not the settings\n`);
  assert.equal(domains(), ['example.com']);
  assert.ok(readMemo().key.endsWith('# a comment changes the text, not the settings\n'));
  writeConfig(root, { domain: 'example.org' });
  assert.equal(domains(), ['example.org']);
  assert.is(readMemo().value.main.domain, 'example.org');
});

test('a memo of another build, or a torn one, is not used', () => {
  const { key } = readMemo();
  memoSaying('other-build.example', `${'0'.repeat(64)}${key.slice(64)}`);
  assert.equal(domains(), ['example.org']);
  assert.is(readMemo().key, key);
  writeFileSync(memo, readFileSync(memo, 'utf8').slice(0, 100));
  assert.equal(domains(), ['example.org']);
  assert.is(readMemo().key, key);
});

test('a bad file is refused at every call, whatever the memo holds', () => {
  const good = readFileSync(uciFile, 'utf8');
  writeFileSync(uciFile, good.replace("option smtp '25'", "option smtp 'twenty-five'"));
  for (let i = 0; i < 2; i++) {
    const r = mailctl(root, ['domain', 'list']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /mailserver\.ports\.smtp/);
  }
  writeFileSync(uciFile, good);
  assert.equal(domains(), ['example.org']);
});

test.run();
