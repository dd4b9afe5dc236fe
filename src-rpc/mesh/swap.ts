// The moment a restore (or its undo) replaces the live data: a journal written first names what
// moves where, each step is a rename inside data_path (one filesystem), and running the journal
// again after a SIGKILL completes it. The journal stays until the daemons run on the new data
// (endSwap): they were stopped for the swap, and a SIGKILL before they start again must leave the
// next restore, pull or tick the journal that tells it to start them. The replaced folders are
// kept in restore-previous-<date>/.
import { join } from 'node:path';
import { DATA_FOLDERS } from './format.ts';
import { ensureDir, exists, listDir, readBytes, readText, removeTree, rename, writeAtomic } from '../sys/fs.ts';
import { syncDirectory } from '../sys/tree.ts';
import { loadContext, type Context } from '../core/context.ts';
import type { Layout } from '../core/layout.ts';
import type { Lock } from './backup.ts';

export const STAGING = '.restore-staging';
const JOURNAL = '.restore-journal.json';
export const PREVIOUS_PREFIX = 'restore-previous-';
/** What an undo replaced: kept too, but never picked by the next --undo (that walks back further). */
export const UNDONE_PREFIX = 'restore-undone-';

export interface SwapJournal {
  /** Folder under data_path holding data/<folder> and uci/mailserver to move in. */
  from: string;
  /** Folder under data_path that receives the live data. */
  previous: string;
  /** The UCI file to install. */
  uci: string;
}

/** Milliseconds too: two restores within a second must not pick the same name. */
export const keptFolderName = (prefix: string, date: Date) => `${prefix}${date.toISOString().replace(/[-:.]/g, '')}`;

/** Replaced data kept of each kind (previous, undone): each is a whole copy of the mail. */
export const KEPT_REPLACED = 3;

/** Newest first. */
function keptFolders(l: Layout, prefix: string): string[] {
  return listDir(l.dataPath).filter((n) => n.startsWith(prefix)).sort().reverse();
}

export const previousFolders = (l: Layout) => keptFolders(l, PREVIOUS_PREFIX);

/** Only the newest KEPT_REPLACED restore-previous-* and restore-undone-* stay; returns what went. */
export function pruneReplaced(l: Layout): string[] {
  const old = [PREVIOUS_PREFIX, UNDONE_PREFIX].flatMap((prefix) => keptFolders(l, prefix).slice(KEPT_REPLACED));
  for (const name of old) removeTree(join(l.dataPath, name));
  return old.map((n) => join(l.dataPath, n));
}

export function swapIn(l: Layout, journal: SwapJournal): void {
  writeAtomic(join(l.dataPath, JOURNAL), JSON.stringify(journal), { mode: 0o600 });
  runJournal(l, journal);
}

function runJournal(l: Layout, j: SwapJournal): void {
  const previous = join(l.dataPath, j.previous);
  ensureDir(join(previous, 'data'), { mode: 0o700 });
  ensureDir(join(previous, 'uci'), { mode: 0o700 });
  for (const folder of DATA_FOLDERS) {
    const incoming = join(l.dataPath, j.from, 'data', folder);
    if (!exists(incoming)) continue; // moved in before the interruption
    const live = join(l.dataPath, folder);
    const kept = join(previous, 'data', folder);
    if (exists(live) && !exists(kept)) rename(live, kept);
    rename(incoming, live);
  }
  syncDirectory(l.dataPath);
  const keptUci = join(previous, 'uci', 'mailserver');
  const liveUci = readBytes(l.uciFile);
  if (!exists(keptUci) && liveUci) writeAtomic(keptUci, liveUci, { mode: 0o600 });
  writeAtomic(l.uciFile, j.uci, { mode: 0o644 });
  removeTree(join(l.dataPath, j.from));
}

/** The daemons run on the swapped-in data: the swap is over. */
export function endSwap(l: Layout): void {
  removeTree(join(l.dataPath, JOURNAL));
  syncDirectory(l.dataPath);
}

/** A swap a SIGKILL interrupted is completed (its journal says how; endSwap once the daemons run); true when there was one. */
export function finishInterruptedSwap(l: Layout): boolean {
  const text = readText(join(l.dataPath, JOURNAL));
  if (text === null) return false;
  runJournal(l, JSON.parse(text) as SwapJournal);
  return true;
}

/** `next` (loaded after the swap) starts the daemons; then the swap is over. */
export function startOnSwappedData(next: Context, lock: Lock): Promise<void> {
  return lock(async () => {
    await next.daemons.start(next);
    endSwap(next.layout);
  });
}

/**
 * A swap a SIGKILL interrupted (before or after its daemons were stopped) is completed and they
 * run again; the context of the settings it brought, or null when there was none.
 */
export async function finishInterruptedRestore(ctx: Context, lock: Lock): Promise<Context | null> {
  if (!(await lock(() => finishInterruptedSwap(ctx.layout)))) return null;
  const next = loadContext(ctx.daemons, ctx.progress);
  await startOnSwappedData(next, lock);
  return next;
}
