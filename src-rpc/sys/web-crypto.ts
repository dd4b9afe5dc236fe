// Node 18 (OpenWrt 23.05) has Web Crypto only as node:crypto's `webcrypto`, not as the global
// `crypto` that the age library and its noble dependencies use for random bytes and X25519.
import { webcrypto } from 'node:crypto';

export function ensureGlobalWebCrypto(): void {
  if (typeof globalThis.crypto === 'undefined') Object.defineProperty(globalThis, 'crypto', { value: webcrypto, configurable: true });
}
