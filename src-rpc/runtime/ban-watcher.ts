// The brute-force bans at run time (features.fail2ban=1): our nftables table, fw4's include of
// it on OpenWrt, and the ban watcher process (src-rpc/ban/watch.ts). Without procd it runs
// detached like the daemons; under procd the init script runs it as an instance
// (`mailctl ban-watch --supervised`), which we never start a second copy of: new settings only
// end it, and procd starts it again with them.
import { join } from 'node:path';
import { writeAtomic, removeTree, isDirectory } from '../sys/fs.ts';
import { spawnBackground, processAlive, signal } from '../sys/spawn.ts';
import { hostPath } from '../sys/paths.ts';
import { installBanRules, removeBanRules, banRuleset, listBans, type Ban } from '../ban/nft.ts';
import { readRecord, recordFile, watcherFingerprint, writeWatcherRecord, type WatcherRecord } from '../ban/record.ts';
import type { Layout } from '../core/layout.ts';
import type { Settings } from '../config/settings.ts';

/** fw4 includes every *.nft here at the top level of its ruleset, on every firewall (re)load. */
const FW4_INCLUDES = '/usr/share/nftables.d/ruleset-post';
const fw4Include = () => hostPath(join(FW4_INCLUDES, '30-mailserver-bans.nft'));

function running(l: Layout): WatcherRecord | null {
  const r = readRecord(l);
  return r && processAlive(r.pid) ? r : null;
}

export function banWatcherPid(l: Layout): number | null {
  return running(l)?.pid ?? null;
}

/** Ends the watcher we started (procd's own instance is procd's to stop). */
export function stopBanWatcher(l: Layout): boolean {
  const r = running(l);
  if (!r || r.supervised) return false;
  signal(r.pid, 'SIGTERM');
  removeTree(recordFile(l));
  return true;
}

function startBanWatcher(l: Layout, s: Settings): void {
  // Whichever bundle runs now (mailctl or the rpcd plugin) knows `ban-watch`.
  const pid = spawnBackground([process.execPath, process.argv[1]!, 'ban-watch'], join(l.logDir, 'ban-watch.log'));
  writeWatcherRecord(l, { pid, settings: watcherFingerprint(s), supervised: false });
}

/**
 * The bans as the settings want them, with the daemons running: table, include and watcher
 * (restarted when its settings changed); or none of them. Under procd the watcher is procd's
 * instance: it is only ended, never started here. Returns whether anything changed.
 */
export function reconcileBans(l: Layout, s: Settings, procd = false): boolean {
  const current = running(l);
  if (!s.features.fail2ban) {
    if (current) signal(current.pid, 'SIGTERM');
    removeTree(recordFile(l));
    removeBanRules();
    removeTree(fw4Include());
    return current !== null;
  }
  installBanRules(s);
  if (isDirectory(hostPath(FW4_INCLUDES))) writeAtomic(fw4Include(), banRuleset(s), { mode: 0o644 });
  if (current?.settings === watcherFingerprint(s)) return false;
  if (procd || current?.supervised || (!current && readRecord(l)?.supervised)) {
    // procd's: ending it is enough, procd starts it again with the new settings.
    if (current) signal(current.pid, 'SIGTERM');
    return current !== null;
  }
  if (current) stopBanWatcher(l);
  startBanWatcher(l, s);
  return true;
}

export interface BanSummary {
  /** The watcher runs (null: bans are off, features.fail2ban=0). */
  watching: boolean;
  /** Addresses banned now. */
  count: number;
  /** Why the bans cannot be read (nft missing). */
  error?: string;
}

/** The bans now and their summary (null: bans are off), read once: each reading is an nft process. */
export function readBans(l: Layout, s: Settings): { summary: BanSummary | null; bans: Ban[] } {
  if (!s.features.fail2ban) return { summary: null, bans: [] };
  const watching = banWatcherPid(l) !== null;
  try {
    const bans = listBans();
    return { summary: { watching, count: bans.length }, bans };
  } catch (e) {
    return { summary: { watching, count: 0, error: e instanceof Error ? e.message : String(e) }, bans: [] };
  }
}
