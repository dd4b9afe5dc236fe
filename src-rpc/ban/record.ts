// Which ban watcher runs, with which settings, and who supervises it: state/ban-watch.pid.
import { join } from 'node:path';
import { readText, writeAtomic } from '../sys/fs.ts';
import { neverBanned } from './never.ts';
import type { Layout } from '../core/layout.ts';
import type { Settings } from '../config/settings.ts';

export const recordFile = (l: Layout) => join(l.stateDir, 'ban-watch.pid');

export interface WatcherRecord {
  pid: number;
  /** The settings it started with: other ones need a restart. */
  settings: string;
  /** A procd instance: procd restarts it, we never start another. */
  supervised: boolean;
}

export function watcherFingerprint(s: Settings): string {
  return JSON.stringify([s.ban, neverBanned(s)]);
}

export function readRecord(l: Layout): WatcherRecord | null {
  try {
    return JSON.parse(readText(recordFile(l)) ?? 'null') as WatcherRecord | null;
  } catch {
    return null;
  }
}

/** Written by the starter and again by the watcher itself (which knows whether procd runs it). */
export function writeWatcherRecord(l: Layout, r: WatcherRecord): void {
  writeAtomic(recordFile(l), `${JSON.stringify(r)}\n`, { mode: 0o600 });
}

