// Our IP literal check answers as node:net's isIP does (the oracle here), on listed edge cases
// and on many strings built from address-like pieces, valid and not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIP as nodeIsIP } from 'node:net';
import { isIP, isIPv4, isIPv6 } from '../../src-rpc/sys/ip.ts';

const listed = [
  '', '0', '1.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.4 ', ' 1.2.3.4',
  '1..2.3', '1.2.3.-1', '1.2.3.4%eth0', '::', '::1', '1::', ':::', '1:::2', ':1', '1:', ':1::2', '1::2::3', 'fe80::1%eth0',
  'fe80::1%', 'fe80::1%a%b', 'fe80::1%a.b:c-d', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::8', '::1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:1.2.3.4', '::1.2.3.4', '::ffff:1.2.3.4',
  '1.2.3.4::', '1::1.2.3.4:5', '12345::', 'g::', 'ABCD:ef01::', '[::1]', '::1/64', '1:2:3:4:5:6:7:1.2.3.4', '::01.2.3.4',
  '1::2:3:4:5:6:7', '1::2:3:4:5:6:7:8', '0000:0000:0000:0000:0000:0000:0000:0001', '00000::1',
];

test('listed edge cases', () => {
  for (const s of listed) assert.is(isIP(s), nodeIsIP(s), JSON.stringify(s));
});

/** A small deterministic generator (xorshift), so a failure names a string that fails again. */
function random(seed: number) {
  let x = seed;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

test('strings built from address pieces, 20 000 of them', () => {
  const next = random(0x2545f491);
  const pieces = ['0', '1', '25', '255', '256', '01', 'fe80', 'ABCD', 'ffff', '12345', 'g', '', '1.2.3.4', '300.1.1.1', '.', '::', ':', '%eth0', '%', '%a:b.c'];
  const families: Record<0 | 4 | 6, number> = { 0: 0, 4: 0, 6: 0 };
  for (let i = 0; i < 20_000; i++) {
    let s = '';
    const n = 1 + next(12);
    for (let k = 0; k < n; k++) s += pieces[next(pieces.length)]! + (next(3) === 0 ? '' : next(2) ? ':' : '.');
    if (next(2)) s = s.slice(0, -1);
    const expected = nodeIsIP(s) as 0 | 4 | 6;
    assert.is(isIP(s), expected, JSON.stringify(s));
    assert.is(isIPv4(s), expected === 4, JSON.stringify(s));
    assert.is(isIPv6(s), expected === 6, JSON.stringify(s));
    families[expected]++;
  }
  // The pieces make each answer often enough for the comparison to mean something.
  assert.ok(families[4] > 50 && families[6] > 200 && families[0] > 1000, JSON.stringify(families));
});

test.run();
