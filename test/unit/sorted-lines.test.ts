// One line found or placed among sorted lines by binary search: the same answer as a scan of
// every line, for every key between, before, after and equal to the lines' keys.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { insertLine, seekSorted } from '../../src-rpc/sys/sorted-lines.ts';

const keys = ['a@x', 'ab@x', 'b@x', 'user000100@example.com', 'user000101@example.com', 'zz@x'];
const file = (ks: string[]) => Buffer.from(ks.map((k) => `${k}:value-of-${k}:::\n`).join(''), 'latin1');

function scanned(ks: string[], key: string) {
  const before = ks.filter((k) => k < key);
  return { at: Buffer.byteLength(before.map((k) => `${k}:value-of-${k}:::\n`).join('')), found: ks.includes(key) };
}

test('every key is found where a scan finds it, in files of every length', () => {
  const probes = ['', '0', 'a', 'a@x', 'a@y', 'aa', 'ab@x', 'b', 'b@x', 'user000100@example.com', 'user000100@example.con', 'user0001005@example.com', 'zz@x', 'zzz'];
  for (let n = 0; n <= keys.length; n++) {
    const ks = keys.slice(0, n);
    for (const key of probes) assert.equal(seekSorted(file(ks), key, ':'), scanned(ks, key), `${n} lines, key ${JSON.stringify(key)}`);
  }
});

test('a line put where the search says keeps the file sorted', () => {
  let text: Buffer = file([]);
  const added: string[] = [];
  for (const key of ['m@x', 'c@x', 'x@x', 'a@x', 'n@x', 'b@x', 'y@x']) {
    const place = seekSorted(text, key, ':')!;
    assert.not.ok(place.found);
    text = Buffer.concat(insertLine(text, place.at, `${key}:value-of-${key}:::\n`));
    added.push(key);
    assert.is(text.toString('latin1'), file([...added].sort()).toString('latin1'));
  }
});

test('keys end at the separator or at the line end; a file without a final newline is refused', () => {
  const map = Buffer.from('a@x a/\nb@x b/\nc@x\n');
  assert.equal(seekSorted(map, 'b@x', ' '), { at: 7, found: true });
  assert.equal(seekSorted(map, 'c@x', ' '), { at: 14, found: true });
  assert.is(seekSorted(Buffer.from('a@x a/\nb@x b/'), 'b@x', ' '), null);
});

test.run();
