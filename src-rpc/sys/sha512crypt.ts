// SHA512-CRYPT ("$6$"), as specified by Ulrich Drepper:
// https://www.akkadia.org/drepper/SHA-crypt.txt
// Dovecot, glibc crypt(3) and docker-mailserver all read this format, so the users file we write
// stays portable. No native modules (the bundle must run on OpenWrt's Node): SHA-512 is our
// WebAssembly (sys/sha512.ts), the salt comes from /dev/urandom.

import { timingSafeEqual } from 'node:crypto';
import { sha512, sha512CryptRounds } from './sha512.ts';
import { randomBytes } from './random.ts';

const PREFIX = '$6$';
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;
// crypt's own base64 alphabet (not RFC 4648): also the only characters we allow in a salt, so a
// hash can never carry ':' or a newline into the users file.
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SALT_RE = /^[./0-9A-Za-z]*$/;

/** `len` bytes of `digest` repeated (the spec's P/S sequences and the A step's B filler). */
function repeatTo(digest: Buffer, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  for (let off = 0; off < len; off += digest.length) digest.copy(out, off, 0, Math.min(digest.length, len - off));
  return out;
}

/** 16 characters of the 64: each from one random byte's low six bits (256 is a multiple of 64, so all are equally likely). */
function randomSalt(): string {
  let s = '';
  for (const byte of randomBytes(SALT_MAX)) s += ITOA64[byte & 0x3f];
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
  const aParts = [P, S, repeatTo(B, pl)];
  for (let len = pl; len > 0; len >>= 1) aParts.push(len & 1 ? B : P);
  let C: Buffer = sha512(...aParts);

  // Steps 13-20: the P and S byte sequences.
  const Pseq = repeatTo(sha512(...Array<Buffer>(pl).fill(P)), pl);
  const Sseq = sha512(...Array<Buffer>(16 + C[0]!).fill(S)).subarray(0, S.length);

  // Step 21: the rounds.
  C = sha512CryptRounds(C, Pseq, Sseq, n);

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
