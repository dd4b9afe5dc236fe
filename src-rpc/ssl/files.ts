// The served certificate on disk, replaced atomically as a pair:
//
//   data_path/ssl/fullchain.pem -> live/fullchain.pem      (what the daemons' configs name)
//   data_path/ssl/privkey.pem   -> live/privkey.pem
//   data_path/ssl/live          -> gen/<id>                (one rename switches both files)
//   data_path/ssl/gen/<id>/{fullchain.pem,privkey.pem,source.json}
//
// A new pair is checked (key matches, chain in order, valid now) before it is written, written
// into a new generation, then `live` is switched. A daemon (re)reading at any moment sees the
// old pair or the new pair, never a key of one with the chain of the other. The generation
// before the live one is kept; older ones are removed.
import { join } from 'node:path';
import { readText, writeAtomic, ensureDir, listDir, removeTree, exists } from '../sys/fs.ts';
import { readLink, replaceSymlink } from '../sys/links.ts';
import { checkPair, leafOf, describe, type CertificateInfo } from '../sys/x509.ts';
import type { Layout } from '../core/layout.ts';

export type CertificateSource = 'letsencrypt' | 'manual' | 'selfsigned';

export interface SourceNote {
  source: CertificateSource;
  /** ACME directory it came from. */
  directory?: string;
  installed: string;
}

export const chainFile = (l: Layout) => join(l.sslDir, 'fullchain.pem');
export const keyFile = (l: Layout) => join(l.sslDir, 'privkey.pem');
const genDir = (l: Layout) => join(l.sslDir, 'gen');
const liveLink = (l: Layout) => join(l.sslDir, 'live');

/** The certificate the files hold now (the leaf), or null when there is none. */
export function servedCertificate(l: Layout): CertificateInfo | null {
  const pem = readText(chainFile(l));
  const leaf = pem ? leafOf(pem) : null;
  return leaf ? describe(leaf) : null;
}

/** Where the live pair came from, when we installed it. */
export function sourceNote(l: Layout): SourceNote | null {
  const text = readText(join(l.sslDir, 'live', 'source.json'));
  try {
    return text ? (JSON.parse(text) as SourceNote) : null;
  } catch {
    return null;
  }
}

function newGeneration(l: Layout, chainPem: string, keyPem: string, note: SourceNote | null): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  let id = stamp;
  for (let n = 2; exists(join(genDir(l), id)); n++) id = `${stamp}-${n}`;
  const dir = join(genDir(l), id);
  ensureDir(dir, { mode: 0o755, uid: 0, gid: 0 });
  writeAtomic(join(dir, 'privkey.pem'), keyPem, { mode: 0o600, uid: 0, gid: 0 });
  writeAtomic(join(dir, 'fullchain.pem'), chainPem, { mode: 0o644, uid: 0, gid: 0 });
  if (note) writeAtomic(join(dir, 'source.json'), `${JSON.stringify(note)}\n`, { mode: 0o644, uid: 0, gid: 0 });
  return id;
}

/** True when fullchain.pem and privkey.pem are our links into `live`. */
function linked(l: Layout): boolean {
  return readLink(chainFile(l)) === 'live/fullchain.pem' && readLink(keyFile(l)) === 'live/privkey.pem' && readLink(liveLink(l)) !== null;
}

/**
 * Plain files (the first-start self-signed pair, or files put there by hand) become a generation
 * first, then the names become links to it: same bytes throughout, so nothing changes for a
 * reader, and the switch to the new pair is then a single rename.
 */
function adoptPlainFiles(l: Layout): void {
  if (linked(l)) return;
  const chain = readText(chainFile(l));
  const key = readText(keyFile(l));
  if (chain !== null && key !== null) {
    const id = newGeneration(l, chain, key, null);
    replaceSymlink(`gen/${id}`, liveLink(l));
  }
  if (readLink(liveLink(l)) === null) return; // nothing to keep: the new generation creates `live`
  replaceSymlink('live/privkey.pem', keyFile(l));
  replaceSymlink('live/fullchain.pem', chainFile(l));
}

export interface Installed {
  leaf: CertificateInfo;
  chain: CertificateInfo[];
  /** False when the files already held exactly this pair. */
  changed: boolean;
}

/**
 * Check a chain and key, then make them the served pair. Throws CertificateProblem (nothing
 * written) when they cannot serve. The daemons still have to reload to use them.
 */
export function installCertificate(l: Layout, chainPem: string, keyPem: string, note: Omit<SourceNote, 'installed'>, now = Date.now()): Installed {
  const checked = checkPair(chainPem, keyPem, now);
  if (readText(chainFile(l)) === chainPem && readText(keyFile(l)) === keyPem) return { ...checked, changed: false };
  ensureDir(l.sslDir, { mode: 0o755, uid: 0, gid: 0 });
  ensureDir(genDir(l), { mode: 0o755, uid: 0, gid: 0 });
  adoptPlainFiles(l);
  const previous = readLink(liveLink(l));
  const id = newGeneration(l, chainPem, keyPem, { ...note, installed: new Date(now).toISOString() });
  replaceSymlink(`gen/${id}`, liveLink(l));
  replaceSymlink('live/privkey.pem', keyFile(l));
  replaceSymlink('live/fullchain.pem', chainFile(l));
  const keep = new Set([id, previous?.replace(/^gen\//, '')]);
  for (const name of listDir(genDir(l))) if (!keep.has(name)) removeTree(join(genDir(l), name));
  return { ...checked, changed: true };
}
