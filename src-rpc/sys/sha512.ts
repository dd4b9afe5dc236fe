// SHA-512 without node:crypto: sha512.wat, compiled once per process. SHA512-CRYPT's 5 000
// digests of ~120 bytes took a cold `user add` ~23 ms through node:crypto (~6 ms of it loading
// the module); here they are one call of 6-9 ms, compiling the module included. Checked
// against node:crypto in test/unit/sha512.test.ts, and SHA512-CRYPT against Drepper's vectors.
// A Node without WebAssembly (run with --jitless, or a V8 lite-mode build, as small devices may
// use) digests through node:crypto instead: slower to load, the same bytes.
import { createHash } from 'node:crypto';
import { SHA512_WASM } from './sha512-wasm.ts';

interface Sha512Exports {
  memory: WebAssembly.Memory;
  init(): void;
  update(ptr: number, len: number): void;
  final(): void;
  crypt_rounds(n: number, p: number, pl: number, s: number, sl: number): void;
}

/** Where sha512.wat leaves the digest, and where callers' input may start. */
const DIGEST = 1664;
const INPUT = 2048;

let instance: { exports: Sha512Exports; memory: Uint8Array } | undefined;

function wasm() {
  if (!instance) {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(SHA512_WASM, 'base64'))).exports as unknown as Sha512Exports;
    // One page, never grown: the view stays valid.
    instance = { exports, memory: new Uint8Array(exports.memory.buffer) };
  }
  return instance;
}

const hasWebAssembly = typeof WebAssembly !== 'undefined';
const EMPTY = new Uint8Array(0);

/** The SHA-512 digest of `parts` one after the other. */
export function sha512(...parts: Uint8Array[]): Buffer {
  if (!hasWebAssembly) return parts.reduce((hash, part) => hash.update(part), createHash('sha512')).digest();
  const { exports, memory } = wasm();
  exports.init();
  // The parts are laid end to end in the module's memory and digested as much as it holds at a
  // time: SHA512-CRYPT digests a few hundred short parts, and each call into WebAssembly costs.
  let at = INPUT;
  for (const part of parts) {
    for (let taken = 0; taken < part.length; ) {
      const n = Math.min(part.length - taken, memory.length - at);
      memory.set(part.subarray(taken, taken + n), at);
      taken += n;
      at += n;
      if (at === memory.length) {
        exports.update(INPUT, at - INPUT);
        at = INPUT;
      }
    }
  }
  exports.update(INPUT, at - INPUT);
  exports.final();
  return Buffer.from(memory.slice(DIGEST, DIGEST + 64));
}

/** SHA512-CRYPT's step 21: `rounds` digests chained from `c` over the P and S sequences. */
export function sha512CryptRounds(c: Uint8Array, pSequence: Uint8Array, sSequence: Uint8Array, rounds: number): Buffer {
  if (!hasWebAssembly) {
    let C: Buffer = Buffer.from(c);
    for (let i = 0; i < rounds; i++) C = sha512(i & 1 ? pSequence : C, i % 3 ? sSequence : EMPTY, i % 7 ? pSequence : EMPTY, i & 1 ? C : pSequence);
    return C;
  }
  const { exports, memory } = wasm();
  memory.set(c, DIGEST);
  memory.set(pSequence, INPUT);
  memory.set(sSequence, INPUT + pSequence.length);
  exports.crypt_rounds(rounds, INPUT, pSequence.length, INPUT + pSequence.length, sSequence.length);
  return Buffer.from(memory.slice(DIGEST, DIGEST + 64));
}
