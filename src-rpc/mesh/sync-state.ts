// What the last push, pull and verify did, per peer: state/mesh-sync.json, read by `mesh peers`
// and the Overview (asking every peer live would cost an SSH connection per page load).
import { join } from 'node:path';
import { readText, writeAtomic } from '../sys/fs.ts';
import type { Layout } from '../core/layout.ts';

export interface PeerEvent {
  at: string;
  ok: boolean;
  snapshot?: string;
  error?: string;
}

export interface PeerState {
  lastPush?: PeerEvent;
  lastPull?: PeerEvent;
  snapshots?: number;
  repositoryBytes?: number;
}

export interface VerifyRecord {
  at: string;
  ok: boolean;
  /** One line per peer: what was checked, or what failed. */
  peers: { peer: string; ok: boolean; mailbox?: string; messages?: number; error?: string }[];
}

export interface SyncState {
  peers: Record<string, PeerState>;
  verify?: VerifyRecord;
}

const stateFile = (l: Layout) => join(l.stateDir, 'mesh-sync.json');

export function readSyncState(l: Layout): SyncState {
  try {
    const parsed = JSON.parse(readText(stateFile(l)) ?? '{}') as Partial<SyncState>;
    return { peers: parsed.peers ?? {}, ...(parsed.verify ? { verify: parsed.verify } : {}) };
  } catch {
    return { peers: {} };
  }
}

function save(l: Layout, s: SyncState): void {
  writeAtomic(stateFile(l), `${JSON.stringify(s)}\n`, { mode: 0o600 });
}

export function recordPeerState(l: Layout, peer: string, what: 'push' | 'pull', r: { ok: boolean; snapshot?: string; error?: string; snapshots?: number; repositoryBytes?: number }): void {
  const s = readSyncState(l);
  const event: PeerEvent = { at: new Date().toISOString(), ok: r.ok, ...(r.snapshot ? { snapshot: r.snapshot } : {}), ...(r.error ? { error: r.error } : {}) };
  const p = (s.peers[peer] ??= {});
  if (what === 'push') p.lastPush = event;
  else p.lastPull = event;
  if (r.snapshots !== undefined) p.snapshots = r.snapshots;
  if (r.repositoryBytes !== undefined) p.repositoryBytes = r.repositoryBytes;
  save(l, s);
}

export function recordVerify(l: Layout, v: VerifyRecord): void {
  save(l, { ...readSyncState(l), verify: v });
}
