// Certificates and keys (node:crypto): read a PEM chain, check that a key belongs to it and that
// each certificate is issued by the next, describe a certificate, make a private key.
import { X509Certificate, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export type KeyKind = 'ec256' | 'ec384' | 'rsa2048' | 'rsa4096';

export interface CertificateInfo {
  subject: string;
  /** DNS names of the subjectAltName extension (the CN only when there is none). */
  names: string[];
  issuer: string;
  serial: string;
  validFrom: string;
  validTo: string;
  /** "ec256", "rsa2048", "ed25519", … */
  keyType: string;
  selfSigned: boolean;
  /** SHA-256 of the DER certificate, colon-separated upper-case hex (as openssl prints it). */
  fingerprint256: string;
}

/** A chain or key that cannot serve: the message says why, in words for the owner. */
export class CertificateProblem extends Error {}

const NOT_BEFORE_SKEW_MS = 86_400_000;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitCertificates(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

function keyTypeOf(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve;
    return curve === 'prime256v1' ? 'ec256' : curve === 'secp384r1' ? 'ec384' : curve === 'secp521r1' ? 'ec521' : `ec-${curve ?? '?'}`;
  }
  if (key.asymmetricKeyType === 'rsa') return `rsa${details.modulusLength ?? ''}`;
  return key.asymmetricKeyType ?? 'unknown';
}

function namesOf(cert: X509Certificate): string[] {
  const san = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
  if (san.length) return san;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject);
  return cn ? [cn[1]!.toLowerCase()] : [];
}

export function describe(cert: X509Certificate): CertificateInfo {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    names: namesOf(cert),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serial: cert.serialNumber,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    keyType: keyTypeOf(cert.publicKey),
    selfSigned: cert.checkIssued(cert) && cert.verify(cert.publicKey),
    fingerprint256: cert.fingerprint256,
  };
}

/** The first certificate of a PEM text; null when there is none or it does not parse. */
export function leafOf(pem: string): X509Certificate | null {
  const first = splitCertificates(pem)[0];
  if (!first) return null;
  try {
    return new X509Certificate(first);
  } catch {
    return null;
  }
}

/** Fingerprint of a DER certificate, in the same form as CertificateInfo.fingerprint256. */
export function fingerprintOfDer(der: Buffer): string {
  return new X509Certificate(der).fingerprint256;
}

/** True when a name is covered by one of the certificate's names (one-label wildcards). */
export function covers(names: readonly string[], name: string): boolean {
  const n = name.toLowerCase();
  return names.some((c) => c === n || (c.startsWith('*.') && n.endsWith(c.slice(1)) && !n.slice(0, n.length - c.length + 1).includes('.')));
}

/**
 * Check that a chain (leaf first) and a key can serve together: every certificate parses, the
 * key is the leaf's, each certificate is signed by the next, the leaf is valid at `now`.
 * Throws CertificateProblem; returns the leaf and the rest described.
 */
export function checkPair(chainPem: string, keyPem: string, now = Date.now()): { leaf: CertificateInfo; chain: CertificateInfo[] } {
  const blocks = splitCertificates(chainPem);
  if (blocks.length === 0) throw new CertificateProblem('no PEM certificate found');
  const certs = blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new CertificateProblem(`certificate ${i + 1} of the chain does not parse (${(e as Error).message})`);
    }
  });
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    const why = /ENCRYPTED/.test(keyPem) || /passphrase/i.test((e as Error).message) ? 'it is encrypted (a passphrase would be needed at every start)' : 'it is not a PEM private key';
    throw new CertificateProblem(`the private key cannot be used: ${why}`);
  }
  const leaf = certs[0]!;
  if (!leaf.checkPrivateKey(key)) throw new CertificateProblem(`the private key does not match the certificate (${describe(leaf).subject})`);
  for (let i = 0; i + 1 < certs.length; i++) {
    const [c, next] = [certs[i]!, certs[i + 1]!];
    if (!c.checkIssued(next) || !c.verify(next.publicKey)) {
      throw new CertificateProblem(`the chain is out of order: certificate ${i + 1} (${describe(c).subject}) is not signed by certificate ${i + 2} (${describe(next).subject})`);
    }
  }
  const info = describe(leaf);
  // A router's clock may lag (no NTP yet at boot): a day early still serves clients whose clocks are right.
  if (now + NOT_BEFORE_SKEW_MS < Date.parse(info.validFrom)) throw new CertificateProblem(`the certificate is not valid before ${info.validFrom}`);
  if (now > Date.parse(info.validTo)) throw new CertificateProblem(`the certificate expired on ${info.validTo}`);
  return { leaf: info, chain: certs.slice(1).map(describe) };
}

/** A new private key as PKCS#8 PEM. */
export function generatePrivateKey(kind: KeyKind): string {
  const pem = { type: 'pkcs8', format: 'pem' } as const;
  switch (kind) {
    case 'ec256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: pem, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
    case 'ec384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384', privateKeyEncoding: pem, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
    case 'rsa2048':
    case 'rsa4096':
      return generateKeyPairSync('rsa', { modulusLength: kind === 'rsa2048' ? 2048 : 4096, privateKeyEncoding: pem, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
  }
}

/** The key type of a PEM private key ("ec256", "rsa2048", …), or null when it does not parse. */
export function privateKeyType(keyPem: string): string | null {
  try {
    return keyTypeOf(createPrivateKey(keyPem));
  } catch {
    return null;
  }
}
