// Where a mesh peer is. SecuBox routers know each other through secubox-p2p (package
// secubox-p2p, /usr/sbin/secubox-p2p): `secubox-p2p peers` prints {"peers":[{"id","name",
// "address",...,"is_local"?}]}, ids like `peer-1a2b3c4d` or `sb-<mac>`. When the tool is
// installed and knows the id, its address is the peer (SFTP as root); otherwise the id is
// itself `[user@]host[:port]` or a restic REST URL (config/validate.ts meshPeer).
import { MailError } from '../core/errors.ts';
import { run } from '../sys/spawn.ts';

export type PeerKind = 'p2p' | 'sftp' | 'rest';

export interface ResolvedPeer {
  peer: string;
  kind: PeerKind;
  /** `user@host:port` for SFTP (p2p peers too), the URL for REST. */
  target: string;
  /** The p2p peer's name, when secubox-p2p knows it. */
  name?: string;
}

interface P2pPeer {
  id?: unknown;
  name?: unknown;
  address?: unknown;
  is_local?: unknown;
}

/** secubox-p2p's peer list, or null when the tool is not installed or answers nonsense. */
export function p2pPeers(): P2pPeer[] | null {
  const r = run(['secubox-p2p', 'peers'], { timeoutMs: 15_000 });
  if (r.code === 127) return null;
  try {
    const parsed = JSON.parse(r.stdout) as { peers?: unknown };
    return Array.isArray(parsed.peers) ? (parsed.peers as P2pPeer[]) : null;
  } catch {
    return null;
  }
}

/** What secubox-p2p ids look like (its add-peer: `peer-<8 hex>`; its own node: `sb-<mac>`). */
const P2P_ID_RE = /^(?:peer-[0-9a-f]{8}|sb-[0-9a-z]{6,32})$/;

export function resolvePeer(peer: string, known: P2pPeer[] | null = p2pPeers()): ResolvedPeer {
  if (peer.startsWith('rest:')) return { peer, kind: 'rest', target: peer };
  const hit = known?.find((p) => p.id === peer && p.is_local !== true);
  if (hit) {
    if (typeof hit.address !== 'string' || !/^[A-Za-z0-9.:-]+$/.test(hit.address)) throw new MailError('daemon_error', `secubox-p2p lists ${peer} without a usable address`, 'peer');
    return { peer, kind: 'p2p', target: `root@${hit.address.includes(':') ? `[${hit.address}]` : hit.address}`, ...(typeof hit.name === 'string' ? { name: hit.name } : {}) };
  }
  if (known && P2P_ID_RE.test(peer)) throw new MailError('not_found', `secubox-p2p knows no peer ${peer} (see \`secubox-p2p peers\`)`, 'peer');
  return { peer, kind: 'sftp', target: peer };
}
