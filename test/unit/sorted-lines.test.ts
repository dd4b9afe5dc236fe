// One line found or placed among sorted lines by binary search: the same answer as a scan of
// every line, for every key between, before, after and equal to the lines' keys, whether the lines
// are in memory or read from a file by range (how a quick add reads them), short or long.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertLine, seekSorted } from '../../src-rpc/sys/sorted-lines.ts';
import { bufferSource, openSource, partBytes, type ByteSource } from '../../src-rpc/sys/file-ranges.ts';

const dir = mkdtempSync(join(tmpdir(), 'sorted-lines-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const keys = ['a@x', 'ab@x', 'b@x', 'user000100@example.com', 'user000101@example.com', 'zz@x'];
/** Lines longer than the search's 1 KiB reads, so a line's ends are found across several. */
const LONG = 'v'.repeat(2500);
const lineOf = (k: string, long: boolean) => `${k}:value-of-${k}${long ? LONG : ''}:::\n`;
const file = (ks: string[], long = false) => Buffer.from(ks.map((k) => lineOf(k, long)).join(''), 'latin1');

/** The bytes in memory, and the same bytes in a file read by range. */
function both(bytes: Buffer): [string, ByteSource][] {
  const path = join(dir, `lines-${bytes.length}`);
  writeFileSync(path, bytes);
  return [['buffer', bufferSource(bytes)], ['file', openSource(path)!]];
}

function scanned(ks: string[], key: string, long: boolean) {
  const before = ks.filter((k) => k < key);
  return { at: Buffer.byteLength(before.map((k) => lineOf(k, long)).join('')), found: ks.includes(key) };
}

test('every key is found where a scan finds it, in files of every length, lines short and long', () => {
  const probes = ['', '0', 'a', 'a@x', 'a@y', 'aa', 'ab@x', 'b', 'b@x', 'user000100@example.com', 'user000100@example.con', 'user0001005@example.com', 'zz@x', 'zzz'];
  for (const long of [false, true]) {
    for (let n = 0; n <= keys.length; n++) {
      const ks = keys.slice(0, n);
      for (const [what, text] of both(file(ks, long))) {
        for (const key of probes) assert.equal(seekSorted(text, key, ':'), scanned(ks, key, long), `${what}, ${n} lines${long ? ' (long)' : ''}, key ${JSON.stringify(key)}`);
      }
    }
  }
});

test('a line put where the search says keeps the file sorted', () => {
  for (const long of [false, true]) {
    let text: Buffer = file([], long);
    const added: string[] = [];
    for (const key of ['m@x', 'c@x', 'x@x', 'a@x', 'n@x', 'b@x', 'y@x']) {
      for (const [what, source] of both(text)) {
        const place = seekSorted(source, key, ':')!;
        assert.not.ok(place.found, what);
        const next = Buffer.concat(insertLine(source, place.at, lineOf(key, long)).map(partBytes));
        assert.is(next.toString('latin1'), file([...added, key].sort(), long).toString('latin1'), what);
      }
      added.push(key);
      text = file([...added].sort(), long);
    }
  }
});

test('keys end at the separator or at the line end; a file without a final newline is refused', () => {
  for (const [what, map] of both(Buffer.from('a@x a/\nb@x b/\nc@x\n'))) {
    assert.equal(seekSorted(map, 'b@x', ' '), { at: 7, found: true }, what);
    assert.equal(seekSorted(map, 'c@x', ' '), { at: 14, found: true }, what);
  }
  for (const [what, unfinished] of both(Buffer.from('a@x a/\nb@x b/'))) assert.is(seekSorted(unfinished, 'b@x', ' '), null, what);
});

test.run();
