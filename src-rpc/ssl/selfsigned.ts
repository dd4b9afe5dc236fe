// A self-signed certificate for the mail host (ssl.type selfsigned): openssl signs a key made
// here; the pair then goes through the same check and installation as any other.
import { join } from 'node:path';
import { writeAtomic, removeTree } from '../sys/fs.ts';
import { run } from '../sys/spawn.ts';
import { generatePrivateKey, type KeyKind } from '../sys/x509.ts';
import { MailError } from '../core/errors.ts';
import type { Layout } from '../core/layout.ts';

export const SELF_SIGNED_DAYS = 825;

export function selfSignedPair(l: Layout, names: string[], keyType: KeyKind): { chainPem: string; keyPem: string } {
  const keyPem = generatePrivateKey(keyType);
  // openssl reads the key from a file: a 0600 temp file that removeStaleTemps cleans after a kill.
  const temp = join(l.sslDir, `.tmp-selfsigned-${process.pid}.key`);
  writeAtomic(temp, keyPem, { mode: 0o600, uid: 0, gid: 0 });
  try {
    const r = run([
      'openssl', 'req', '-x509', '-new', '-key', temp, '-days', String(SELF_SIGNED_DAYS), '-subj', `/CN=${names[0]}`,
      '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    ]);
    if (r.code !== 0 || !r.stdout.includes('BEGIN CERTIFICATE')) throw new MailError('daemon_error', `openssl could not make a self-signed certificate: ${r.stderr.trim()}`);
    return { chainPem: r.stdout, keyPem };
  } finally {
    removeTree(temp);
  }
}
