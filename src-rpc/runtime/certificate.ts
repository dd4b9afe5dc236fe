// The first start needs a certificate before any TLS listener can come up: make a self-signed
// one for the mail host when none exists (ssl-setup replaces it with a real one).
import { join } from 'node:path';
import { exists, ensureDir } from '../sys/fs.ts';
import { run } from '../sys/spawn.ts';
import { MailError } from '../api/errors.ts';
import type { Layout } from './layout.ts';

export function ensureCertificate(l: Layout, hostName: string): boolean {
  const cert = join(l.sslDir, 'fullchain.pem');
  const key = join(l.sslDir, 'privkey.pem');
  if (exists(cert) && exists(key)) return false;
  ensureDir(l.sslDir, { mode: 0o755, uid: 0, gid: 0 });
  const r = run([
    'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '825', '-subj', `/CN=${hostName}`, '-addext', `subjectAltName=DNS:${hostName}`,
    '-keyout', key, '-out', cert,
  ]);
  if (r.code !== 0) throw new MailError('daemon_error', `could not create a self-signed certificate: ${r.stderr.trim()}`);
  run(['chmod', '0600', key]);
  return true;
}
