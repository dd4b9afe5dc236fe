// Cheap facts for the overview: queue size, certificate, disk. No daemon is asked.
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { listDir, isDirectory, readText } from '../sys/fs.ts';
import type { Layout } from './layout.ts';

const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

function countFiles(dir: string): number {
  let n = 0;
  for (const name of listDir(dir)) n += isDirectory(join(dir, name)) ? countFiles(join(dir, name)) : 1;
  return n;
}

export function queueSize(l: Layout): number {
  return QUEUES.reduce((n, q) => n + countFiles(join(l.postfixQueueDir, q)), 0);
}

export interface CertificateSummary {
  subject: string;
  names: string[];
  issuer: string;
  validTo: string;
  daysLeft: number;
  selfSigned: boolean;
  fingerprint256: string;
}

export function certificateSummary(l: Layout, now = Date.now()): CertificateSummary | null {
  const pem = readText(join(l.sslDir, 'fullchain.pem'));
  if (!pem) return null;
  const cert = new X509Certificate(pem);
  const validTo = new Date(cert.validTo);
  return {
    subject: cert.subject,
    names: (cert.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    issuer: cert.issuer,
    validTo: validTo.toISOString(),
    daysLeft: Math.floor((validTo.getTime() - now) / 86_400_000),
    selfSigned: cert.issuer === cert.subject,
    fingerprint256: cert.fingerprint256,
  };
}

/** Free and total bytes of the filesystem holding data_path (null where statfs is missing). */
export function diskSpace(l: Layout): { freeBytes: number; totalBytes: number } | null {
  try {
    const st = statfsSync(l.dataPath);
    return { freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize };
  } catch {
    return null;
  }
}
