// Our cdb tables are postmap's, byte for byte: the same sources through both, compared, and the
// real postmap answers lookups in ours. Sources include what postmap skips (comments, blank
// lines, a key without a value, a duplicate) and folds (upper-case keys).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendCdb, encodeCdb, mapSourceEntries } from '../../src-rpc/sys/cdb.ts';
import { bufferSource, openSource, partBytes, type ByteSource, type FilePart } from '../../src-rpc/sys/file-ranges.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdb-'));
writeFileSync(join(dir, 'main.cf'), '');
const postmap = (...args: string[]) => spawnSync('postmap', ['-c', dir, ...args], { encoding: 'utf8' });

const many = Array.from({ length: 3000 }, (_, i) => `user${i}@example.com example.com/user${i}/`).join('\n');
const SOURCES: Record<string, string> = {
  empty: '',
  one: 'example.com OK\n',
  many: `${many}\n`,
  skipped: '# a comment\n\nAlice@Example.COM alice@example.com\nnovalue@example.com\ndup@example.com first\ndup@example.com second\ntabs@example.com\tx,y  \n',
  utf8: 'ünï@example.com x\nlast@example.com no-newline',
};

test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const [name, source] of Object.entries(SOURCES)) {
  test(`${name}: the same bytes as postmap cdb:`, () => {
    const file = join(dir, name);
    writeFileSync(file, source);
    const r = postmap(`cdb:${file}`);
    assert.is(r.status, 0, r.stderr);
    const ours = encodeCdb(mapSourceEntries(source));
    assert.ok(ours.equals(readFileSync(`${file}.cdb`)), `${name}: differs from postmap's ${file}.cdb`);
  });
}

test('postmap reads our table: folded keys, first of duplicates, no key without a value', () => {
  const file = join(dir, 'ours');
  writeFileSync(`${file}.cdb`, encodeCdb(mapSourceEntries(SOURCES.skipped! + SOURCES.many!)));
  const query = (key: string) => postmap('-q', key, `cdb:${file}`);
  assert.is(query('alice@example.com').stdout, 'alice@example.com\n');
  assert.is(query('ALICE@example.com').stdout, 'alice@example.com\n');
  assert.is(query('dup@example.com').stdout, 'first\n');
  assert.is(query('tabs@example.com').stdout, 'x,y\n');
  assert.is(query('user2999@example.com').stdout, 'example.com/user2999/\n');
  assert.is(query('novalue@example.com').status, 1);
  assert.is(query('nobody@example.com').status, 1);
});

/** The bytes of the parts, ranges of files read. */
const joined = (parts: FilePart[]) => Buffer.concat(parts.map(partBytes));

/** `bytes` as a buffer, and as a file read by range (how a quick add reads the table). */
function sources(name: string, bytes: Buffer): [string, ByteSource & { close?(): void }][] {
  writeFileSync(join(dir, `${name}.source`), bytes);
  return [[`${name} (buffer)`, bufferSource(bytes)], [`${name} (file)`, openSource(join(dir, `${name}.source`))!]];
}

test('appending to a table gives the table of both lists, which postmap reads', () => {
  const before = mapSourceEntries(SOURCES.many!);
  const after: Array<[string, string]> = [['aaa@example.com', 'example.com/aaa/'], ['zzz@example.com', 'example.com/zzz/'], ['ünï@example.com', 'x']];
  for (const [name, old] of [['empty', []], ['one', before.slice(0, 1)], ['many', before]] as const) {
    for (const [what, source] of sources(name, encodeCdb(old))) {
      const appended = appendCdb(source, after);
      assert.ok(appended && joined(appended).equals(encodeCdb([...old, ...after])), `${what}: appending differs from encoding the whole list`);
      source.close?.();
    }
  }
  const file = join(dir, 'appended');
  writeFileSync(`${file}.cdb`, joined(appendCdb(bufferSource(encodeCdb(before)), after)!));
  assert.is(postmap('-q', 'aaa@example.com', `cdb:${file}`).stdout, 'example.com/aaa/\n');
  assert.is(postmap('-q', 'user1234@example.com', `cdb:${file}`).stdout, 'example.com/user1234/\n');
});

test('what is not a whole cdb table is not appended to', () => {
  const good = encodeCdb(mapSourceEntries(SOURCES.many!));
  for (const bad of [Buffer.alloc(0), good.subarray(0, 2047), good.subarray(0, good.length - 8), Buffer.concat([good, Buffer.alloc(8)])]) {
    assert.is(appendCdb(bufferSource(bad), [['k', 'v']]), null);
  }
});

test('a continuation line (never rendered) is refused, not misread', () => {
  assert.throws(() => mapSourceEntries('key value\n  more\n'), /continuation/);
});

test.run();
