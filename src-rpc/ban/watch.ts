// The ban watcher (`mailctl ban-watch`, started with the daemons): follows Dovecot's log, where
// every failed login of every protocol is written with its client address, and bans an address
// that fails ban.max_failures times within ban.find_time seconds.
//
// Why a follower of our own: Postfix has no hook for failed logins, and Dovecot's auth policy
// server (auth_policy_server_url) would be a resident HTTP server of ours anyway. A follower
// sleeps in inotify while nothing is logged (no CPU, no wakeups), its position (inode + offset
// in state/ban-watch.json) carries it across restarts and log rotation, and the bans themselves
// are kernel set elements with timeouts, so they outlive it and expire without it.
import { join } from 'node:path';
import { settingsOfFile } from '../config/load.ts';
import { layoutFor, uciFilePath } from '../core/layout.ts';
import { readText, writeAtomic } from '../sys/fs.ts';
import { Follower, type FollowPosition } from '../sys/follow.ts';
import { addBan, installBanRules } from './nft.ts';
import { neverBanned, neverBannedMatcher } from './never.ts';
import { FailureWindow, parseFailure } from './failures.ts';
import { watcherFingerprint, writeWatcherRecord } from './record.ts';
import type { Layout } from '../core/layout.ts';

/** Saving the position is a hint for restarts, not a record: at most this often. */
const SAVE_EVERY_MS = 5_000;

export const positionFile = (l: Layout) => join(l.stateDir, 'ban-watch.json');
export const watchedLog = (l: Layout) => join(l.logDir, 'dovecot.log');

function say(text: string): void {
  process.stdout.write(`${new Date().toISOString()} ${text}\n`);
}

/** `supervised`: run by procd as an instance (the init script says so with --supervised). */
export function watchFailures(supervised = false): Promise<void> {
  const s = settingsOfFile(readText(uciFilePath()));
  const l = layoutFor(s);
  writeWatcherRecord(l, { pid: process.pid, settings: watcherFingerprint(s), supervised });
  if (!s.features.fail2ban) {
    say('features.fail2ban is 0: nothing to watch');
    return Promise.resolve();
  }
  // Under procd this may run before anything else made our table.
  try {
    installBanRules(s);
  } catch (e) {
    say(`the ban rules could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
  }
  const exempt = neverBannedMatcher(neverBanned(s));
  const window = new FailureWindow(s.ban.maxFailures, s.ban.findTime * 1000);
  let pending: FollowPosition | null = null;
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending) writeAtomic(positionFile(l), `${JSON.stringify(pending)}\n`, { mode: 0o600 });
    pending = null;
  };
  const follower = new Follower({
    path: watchedLog(l),
    load: () => {
      try {
        return JSON.parse(readText(positionFile(l)) ?? 'null') as FollowPosition | null;
      } catch {
        return null;
      }
    },
    save: (p) => {
      pending = p;
      timer ??= setTimeout(flush, SAVE_EVERY_MS);
    },
    onLines: (lines) => {
      const now = Date.now();
      for (const line of lines) {
        const f = parseFailure(line, now);
        if (!f || exempt(f.address) || !window.add(f)) continue;
        try {
          addBan(f.address, s.ban.banTime);
          say(`banned ${f.address} for ${s.ban.banTime} s: ${s.ban.maxFailures} failed logins within ${s.ban.findTime} s`);
        } catch (e) {
          say(`could not ban ${f.address}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      window.prune(now);
    },
    onError: (e) => say(`reading ${watchedLog(l)}: ${e instanceof Error ? e.message : String(e)}`),
  });
  follower.start();
  say(`watching ${watchedLog(l)}: ${s.ban.maxFailures} failures within ${s.ban.findTime} s ban for ${s.ban.banTime} s`);
  return new Promise((resolve) => {
    const end = () => {
      follower.stop();
      flush();
      resolve();
    };
    process.once('SIGTERM', end);
    process.once('SIGINT', end);
  });
}
