// tick's share of mesh sync: when mesh is enabled, a push every mesh.sync_interval seconds and
// the restore drill (`mesh verify`) once a week, each started as a detached job so tick (which
// holds the write lock) returns at once and the push takes the lock only while it reads accounts.
import { exists } from '../sys/fs.ts';
import { startDetached } from '../jobs/run.ts';
import { runningJobOfKind } from '../jobs/store.ts';
import { readSyncState } from '../mesh/sync-state.ts';
import { syncPasswordFile } from '../mesh/restic.ts';
import type { Context } from '../core/context.ts';

const WEEK_MS = 7 * 86_400_000;

export interface MeshSchedule {
  started?: 'mesh_sync' | 'mesh_verify';
  job?: string;
  error?: string;
}

export function scheduleMeshWork(ctx: Context, now = Date.now()): MeshSchedule {
  const m = ctx.settings.mesh;
  if (!m.enabled || m.backupPeers.length === 0) return {};
  if (!exists(syncPasswordFile(ctx.layout))) return { error: 'mesh is enabled but this node has no repository password: run `mailctl mesh enable` again' };
  // Both lock the same repositories: one at a time.
  if (runningJobOfKind('mesh_sync') || runningJobOfKind('mesh_verify')) return {};
  const state = readSyncState(ctx.layout);
  const pushes = m.backupPeers.map((p) => Date.parse(state.peers[p]?.lastPush?.at ?? '') || 0);
  const pushDue = now - Math.min(...pushes) >= m.syncInterval * 1000;
  const verifyDue = now - (Date.parse(state.verify?.at ?? '') || 0) >= WEEK_MS;
  const kind = pushDue ? 'mesh_sync' : verifyDue ? 'mesh_verify' : null;
  if (!kind) return {};
  try {
    // Whichever bundle runs tick (mailctl from cron, or the rpcd plugin) runs jobs with `job-run`.
    const job = startDetached(kind, kind === 'mesh_sync' ? { mode: 'push' } : {}, [process.argv[1]!]);
    return { started: kind, job: job.id };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
