// sys/fs replaceLater: writeAtomic in two steps (write now, flush on the thread pool, replace
// later), as the quick `user add` writes the maps while the password is hashed; and
// replaceLaterFilling, for the users file, whose new line's hash is written in when it is made.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceLater, replaceLaterFilling } from '../../src-rpc/sys/fs.ts';

const dir = mkdtempSync(join(tmpdir(), 'replace-later-'));
const file = join(dir, 'map');
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the file keeps its old bytes until put, then has the new ones, with their mode; no temp file left', async () => {
  writeFileSync(file, 'old\n', { mode: 0o600 });
  const next = replaceLater(file, [Buffer.from('new '), Buffer.from('bytes\n')], { mode: 0o644 });
  assert.is(readFileSync(file, 'utf8'), 'old\n');
  await next.flushed;
  assert.is(readFileSync(file, 'utf8'), 'old\n', 'the flush alone replaces nothing');
  next.put();
  assert.is(readFileSync(file, 'utf8'), 'new bytes\n');
  assert.is(statSync(file).mode & 0o777, 0o644);
  assert.equal(readdirSync(dir), ['map']);
});

test('drop leaves the file as it was and no temp file', async () => {
  writeFileSync(file, 'kept\n');
  const next = replaceLater(file, 'discarded\n');
  next.drop();
  await next.flushed;
  assert.is(readFileSync(file, 'utf8'), 'kept\n');
  assert.equal(readdirSync(dir), ['map']);
});

test('a file that cannot be written is refused at once, naming it, and leaves nothing', () => {
  const missing = join(dir, 'no-such-dir', 'map');
  assert.throws(() => replaceLater(missing, 'x'), /ENOENT/);
  assert.equal(readdirSync(dir), ['map']);
});

test('a filled replacement has the filled bytes where the stand-in was, once put, with its mode; no temp file', async () => {
  writeFileSync(file, 'old\n', { mode: 0o600 });
  const unfilled = replaceLaterFilling(file, [Buffer.from('user:'), Buffer.from('????'), Buffer.from(':quota\n')], { mode: 0o640 });
  const next = unfilled.fill(5, Buffer.from('hash'));
  await next.flushed;
  assert.is(readFileSync(file, 'utf8'), 'old\n', 'the flushes alone replace nothing');
  next.put();
  assert.is(readFileSync(file, 'utf8'), 'user:hash:quota\n');
  assert.is(statSync(file).mode & 0o777, 0o640);
  assert.equal(readdirSync(dir), ['map']);
});

test('an unfilled replacement dropped leaves the file as it was and no temp file', async () => {
  writeFileSync(file, 'kept\n');
  replaceLaterFilling(file, 'discarded ????\n').drop();
  await new Promise((resolve) => setTimeout(resolve, 100)); // its flush ends and its descriptor closes
  assert.is(readFileSync(file, 'utf8'), 'kept\n');
  assert.equal(readdirSync(dir), ['map']);
});

test.run();
