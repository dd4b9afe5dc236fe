// SHA512-CRYPT ("$6$"), as specified by Ulrich Drepper:
// https://www.akkadia.org/drepper/SHA-crypt.txt
// Dovecot, glibc crypt(3) and docker-mailserver all read this format, so the users file we write
// stays portable. Pure node:crypto; no native modules (the bundle must run on OpenWrt's Node).

import * as nodeCrypto from 'node:crypto';
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

const PREFIX = '$6$';
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;
// crypt's own base64 alphabet (not RFC 4648): also the only characters we allow in a salt, so a
// hash can never carry ':' or a newline into the users file.
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SALT_RE = /^[./0-9A-Za-z]*$/;

// crypto.hash (Node >= 20.12) digests in one call without a Hash object: the rounds are 5000
// digests of a few dozen bytes, where that per-call cost is most of the time. Node 18 lacks it.
// Looked up per hash, not when this module loads: node:crypto then loads only in a call that
// hashes (scripts/build.mjs makes it load on first use).
function sha512Digester(): (data: Buffer) => Buffer {
  const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: Buffer, encoding: 'buffer') => Buffer }).hash;
  return oneShot ? (data) => oneShot('sha512', data, 'buffer') : (data) => createHash('sha512').update(data).digest();
}

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `len` bytes of `digest` repeated (the spec's P/S sequences and the A step's B filler). */
function repeatTo(digest: Buffer, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  for (let off = 0; off < len; off += digest.length) digest.copy(out, off, 0, Math.min(digest.length, len - off));
  return out;
}

function randomSalt(): string {
  let s = '';
  for (let i = 0; i < SALT_MAX; i++) s += ITOA64[randomInt(64)];
  return s;
}

/** Parse a crypt setting: optional "$6$", optional "rounds=N$", salt up to the next '$'. */
function parseSetting(setting: string): { salt: string; rounds: number | null } {
  let s = setting.startsWith(PREFIX) ? setting.slice(PREFIX.length) : setting;
  let rounds: number | null = null;
  const m = /^rounds=(\d{1,10})\$/.exec(s);
  if (m) {
    rounds = Number(m[1]);
    s = s.slice(m[0].length);
  }
  const end = s.indexOf('$');
  const salt = (end === -1 ? s : s.slice(0, end)).slice(0, SALT_MAX);
  if (!SALT_RE.test(salt)) throw new Error('sha512Crypt: salt may only contain [./0-9A-Za-z]');
  return { salt, rounds };
}

function encode(d: Buffer): string {
  let out = '';
  const put = (b2: number, b1: number, b0: number, n: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++, w >>= 6) out += ITOA64[w & 0x3f];
  };
  // Byte order from the spec: triples (k, k+21, k+42) rotated by k mod 3, then the last byte.
  for (let k = 0; k < 21; k++) {
    const t = [d[k]!, d[k + 21]!, d[k + 42]!];
    const r = k % 3;
    put(t[r]!, t[(r + 1) % 3]!, t[(r + 2) % 3]!, 4);
  }
  put(0, 0, d[63]!, 2);
  return out;
}

/**
 * Hash `password` (UTF-8 bytes) as "$6$salt$hash". `salt` may be a bare salt or a full crypt
 * setting ("$6$rounds=N$salt$..."); a rounds= prefix there is kept in the output, as glibc does.
 * Otherwise `rounds` (default 5000, clamped to 1000..999999999) is emitted only when not 5000.
 */
export function sha512Crypt(password: string, salt?: string, rounds?: number): string {
  const setting = salt === undefined ? { salt: randomSalt(), rounds: null } : parseSetting(salt);
  let n = setting.rounds ?? rounds ?? ROUNDS_DEFAULT;
  if (!Number.isFinite(n)) throw new Error('sha512Crypt: rounds must be a number');
  n = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, Math.floor(n)));
  const custom = setting.rounds !== null || n !== ROUNDS_DEFAULT;

  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(setting.salt, 'latin1');
  const pl = P.length;

  // Steps 1-12: digest A.
  const B = sha512(P, S, P);
  const a = createHash('sha512').update(P).update(S).update(repeatTo(B, pl));
  for (let len = pl; len > 0; len >>= 1) a.update(len & 1 ? B : P);
  let C: Buffer = a.digest();

  // Steps 13-20: the P and S byte sequences.
  const dp = createHash('sha512');
  for (let i = 0; i < pl; i++) dp.update(P);
  const Pseq = repeatTo(dp.digest(), pl);
  const ds = createHash('sha512');
  for (let i = 0; i < 16 + C[0]!; i++) ds.update(S);
  const Sseq = ds.digest().subarray(0, S.length);

  // Step 21: the rounds. A round's input is C and constant bytes: (P or C), S unless i % 3 == 0,
  // P unless i % 7 == 0, (C or P). So it is one of eight templates with C written into its first
  // or last 64 bytes: a round costs one copy and one digest (Buffer.copy per part cost a cold
  // `user add` ~7 ms of its ~15 ms of rounds).
  const templates: { buf: Buffer; at: number }[] = [];
  for (let kind = 0; kind < 8; kind++) {
    const odd = (kind & 1) !== 0;
    const buf = Buffer.concat([odd ? Pseq : C, ...(kind & 2 ? [Sseq] : []), ...(kind & 4 ? [Pseq] : []), odd ? C : Pseq]);
    templates.push({ buf, at: odd ? buf.length - C.length : 0 });
  }
  const digestSha512 = sha512Digester();
  for (let i = 0; i < n; i++) {
    const { buf, at } = templates[(i & 1) | (i % 3 !== 0 ? 2 : 0) | (i % 7 !== 0 ? 4 : 0)]!;
    buf.set(C, at);
    C = digestSha512(buf);
  }

  const roundsPart = custom ? `rounds=${n}$` : '';
  return `${PREFIX}${roundsPart}${setting.salt}$${encode(C)}`;
}

/** True when `password` matches the "$6$..." `hash`; malformed hashes simply do not match. */
export function verifySha512Crypt(password: string, hash: string): boolean {
  if (typeof password !== 'string' || typeof hash !== 'string' || !hash.startsWith(PREFIX)) return false;
  let computed: string;
  try {
    computed = sha512Crypt(password, hash);
  } catch {
    return false;
  }
  const a = Buffer.from(computed, 'utf8');
  const b = Buffer.from(hash, 'utf8');
  // Length is public (it follows from the format); only the content comparison must be constant-time.
  return a.length === b.length && timingSafeEqual(a, b);
}
