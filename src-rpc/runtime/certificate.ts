// The first start needs a certificate before any TLS listener can come up: make a self-signed
// one for the mail host when none exists (ssl-setup replaces it with a real one). It is made and
// installed the way `ssl.type selfsigned` does it (ssl/selfsigned.ts, ssl/files.ts).
import { join } from 'node:path';
import { exists } from '../sys/fs.ts';
import { selfSignedPair } from '../ssl/selfsigned.ts';
import { installCertificate } from '../ssl/files.ts';
import type { Layout } from '../core/layout.ts';

export function ensureCertificate(l: Layout, hostName: string): boolean {
  if (exists(join(l.sslDir, 'fullchain.pem')) && exists(join(l.sslDir, 'privkey.pem'))) return false;
  const { chainPem, keyPem } = selfSignedPair(l, [hostName], 'ec256');
  installCertificate(l, chainPem, keyPem, { source: 'selfsigned' });
  return true;
}
