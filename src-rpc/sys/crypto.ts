// Key generation for DKIM (node:crypto stays in sys/). Private keys leave here as PKCS#8 PEM;
// public keys in the form DKIM records carry them (RFC 6376 / RFC 8463).
import { generateKeyPairSync, createPrivateKey, createPublicKey, randomBytes, createHash } from 'node:crypto';
import { openSync, readSync, closeSync } from 'node:fs';

export type KeyAlgorithm = 'rsa' | 'ed25519';

export interface KeyPair {
  /** PKCS#8 PEM. */
  privatePem: string;
  /** The record's p=: base64 SubjectPublicKeyInfo (rsa) or the raw 32-byte key (ed25519). */
  publicKey: string;
}

export function generateDkimKey(algorithm: KeyAlgorithm, rsaBits = 2048): KeyPair {
  const { privateKey } = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: rsaBits }) : generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { privatePem, publicKey: dkimPublicKey(privatePem) };
}

/** p= for a private key in PEM. */
export function dkimPublicKey(privatePem: string): string {
  const pub = createPublicKey(createPrivateKey(privatePem));
  const der = pub.export({ type: 'spki', format: 'der' });
  // An Ed25519 SubjectPublicKeyInfo is a 12-byte header and the 32-byte key (RFC 8410).
  return (pub.asymmetricKeyType === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
}

/** Rspamd's own Ed25519 key file format: base64 of seed ‖ public key (libsodium's 64-byte secret key). */
export function rspamdEd25519Key(privatePem: string): string {
  const key = createPrivateKey(privatePem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const seed = der.subarray(der.length - 32);
  const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return `${Buffer.concat([seed, pub.subarray(pub.length - 32)]).toString('base64')}\n`;
}

/** A random secret for machines to use (a backup passphrase, Roundcube's des_key): base64url, 4 characters per 3 bytes. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A UUID derived from a name (RFC 4122 version 5 layout over SHA-256): the same name, the same UUID. */
export function nameUuid(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex').toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Hex SHA-256 of text, or of a file's bytes streamed in chunks (a rootfs tarball is ~80 MB). */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
