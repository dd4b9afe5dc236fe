// The in-place map update applies exactly the lines that changed, and gives up on big changes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { smallDiff } from '../../src-rpc/runtime/converge.ts';

const lines = (keys: number[]) => keys.map((i) => `k${String(i).padStart(5, '0')}@example.com example.com/k${i}/`).join('\n') + (keys.length ? '\n' : '');
const base = Array.from({ length: 10_000 }, (_, i) => i);

test('no change, one addition, one removal, one changed value', () => {
  assert.equal(smallDiff(lines(base), lines(base)), { remove: [], add: [] });
  assert.equal(smallDiff(lines(base.filter((i) => i !== 5000)), lines(base)), { remove: [], add: [lines([5000]).trim()] });
  assert.equal(smallDiff(lines(base), lines(base.filter((i) => i !== 0))), { remove: ['k00000@example.com'], add: [] });
  assert.equal(smallDiff(lines(base), lines(base.filter((i) => i !== 9999))), { remove: ['k09999@example.com'], add: [] });
  assert.equal(smallDiff('a@x.org 1\nb@x.org 2\n', 'a@x.org 1\nb@x.org 3\n'), { remove: ['b@x.org'], add: ['b@x.org 3'] });
});

test('from and to an empty map', () => {
  assert.equal(smallDiff('', 'a@x.org 1\n'), { remove: [], add: ['a@x.org 1'] });
  assert.equal(smallDiff('a@x.org 1\n', ''), { remove: ['a@x.org'], add: [] });
});

test('a large change is left to a full rebuild', () => {
  assert.is(smallDiff(lines(base), lines(base.map((i) => i + 20_000))), null);
  assert.is(smallDiff(lines(base.slice(0, 100)), lines(base.slice(0, 300))), null);
});

test('applying the diff to the old map gives the new one (random small changes)', () => {
  for (let round = 0; round < 300; round++) {
    const old = new Map(base.slice(0, 200).filter(() => Math.random() < 0.9).map((i) => [`k${String(i).padStart(5, '0')}`, `v${i}`]));
    const next = new Map(old);
    for (let c = 0; c < 1 + Math.floor(Math.random() * 4); c++) {
      const i = Math.floor(Math.random() * 220);
      const k = `k${String(i).padStart(5, '0')}`;
      const r = Math.random();
      if (r < 0.4) next.delete(k);
      else next.set(k, r < 0.7 ? `v${i}` : `changed${round}`);
    }
    const text = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k} ${v}\n`).join('');
    const d = smallDiff(text(old), text(next));
    assert.ok(d);
    const applied = new Map(old);
    for (const k of d!.remove) applied.delete(k);
    for (const line of d!.add) applied.set(line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1));
    assert.is(text(applied), text(next));
  }
});

test.run();
