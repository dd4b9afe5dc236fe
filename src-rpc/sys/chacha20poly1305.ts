// ChaCha20-Poly1305 with the contract of @noble/ciphers' `chacha20poly1305(key, nonce)` (what
// age-encryption calls for its STREAM chunks and file-key stanzas), done by OpenSSL through
// node:crypto. The pure-JS cipher moved ~3 MB/s on a loaded router-class CPU, 16x slower than
// this; the build substitutes this module for the library's import in lib/mesh.js only.
import { createCipheriv, createDecipheriv } from 'node:crypto';

const TAG = 16;

export function chacha20poly1305(key: Uint8Array, nonce: Uint8Array) {
  return {
    encrypt(plaintext: Uint8Array): Uint8Array {
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
      const head = c.update(plaintext);
      const tail = c.final();
      return Buffer.concat([head, tail, c.getAuthTag()]);
    },
    decrypt(ciphertext: Uint8Array): Uint8Array {
      if (ciphertext.length < TAG) throw new Error('invalid tag: ciphertext too short');
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
      d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG));
      const head = d.update(ciphertext.subarray(0, ciphertext.length - TAG));
      try {
        return Buffer.concat([head, d.final()]);
      } catch {
        throw new Error('invalid tag: the data was altered');
      }
    },
  };
}
