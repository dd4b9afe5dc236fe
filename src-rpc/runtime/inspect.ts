// Cheap facts for the overview: queue size, disk. No daemon is asked.
import { join } from 'node:path';
import { statfsSync } from 'node:fs';
import { listDir, isDirectory } from '../sys/fs.ts';
import type { Layout } from '../core/layout.ts';

const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];

function countFiles(dir: string): number {
  let n = 0;
  for (const name of listDir(dir)) n += isDirectory(join(dir, name)) ? countFiles(join(dir, name)) : 1;
  return n;
}

export function queueSize(l: Layout): number {
  return QUEUES.reduce((n, q) => n + countFiles(join(l.postfixQueueDir, q)), 0);
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
