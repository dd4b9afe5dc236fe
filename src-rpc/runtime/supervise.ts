// Keeping the daemons up where procd does not: `start` says the server should run, `stop` says it
// should not, and `tick` (cron) starts every daemon the settings need that is not running,
// recording each restart so `status` and the Overview can say what happened and when.
import { join } from 'node:path';
import { readText, writeAtomic, ensureDir, removeFile, exists } from '../sys/fs.ts';
import { hostPath } from '../sys/paths.ts';
import { ensureRunDir } from '../sys/run-dir.ts';
import { sleepSync } from '../sys/spawn.ts';
import type { ServiceState } from './host.ts';
import type { Layout } from '../core/layout.ts';
import type { Service } from '../core/context.ts';

export interface Restart {
  /** ISO time of the attempt. */
  at: string;
  daemon: Service;
  /** What was wrong: "it died", or a pid file naming another program. */
  reason: string;
  ok: boolean;
  error?: string;
}

/** On tmpfs: after a reboot nothing runs until `start` (or procd) says so. */
const wantedFile = () => hostPath('/var/run/mailserver/wanted');
const restartsFile = (l: Layout) => join(l.stateDir, 'restarts.json');
/** How long a failing start is tried again. */
const RETRY_MS = 45_000;
/** How long a restarted daemon may take to show up running. */
const STAY_UP_MS = 30_000;
/** Restarts kept for status and the Overview. */
const KEPT = 20;

export function markWanted(): void {
  ensureRunDir();
  writeAtomic(wantedFile(), '', { mode: 0o644 });
}

export function clearWanted(): void {
  removeFile(wantedFile());
}

export function isWanted(): boolean {
  return exists(wantedFile());
}

export function recentRestarts(l: Layout): Restart[] {
  try {
    return JSON.parse(readText(restartsFile(l)) ?? '[]') as Restart[];
  } catch {
    return []; // a torn or hand-edited history is not worth failing status for
  }
}

/** What heal needs of a runtime: the daemons' states, starting what is down, the queue. */
export interface Healable {
  states(): ServiceState[];
  /** Start whatever of the server is down (a daemon, or the container with its daemons). */
  start(): void;
  flushQueue(): void;
}

/**
 * Start every daemon the settings need that is not running (dead, or its pid file names another
 * program, or its container stopped), when the server should run. Returns one record per daemon
 * it had to start.
 */
export function heal(l: Layout, runtime: Healable): Restart[] {
  if (!isWanted()) return [];
  const serviceStates = () => runtime.states();
  const down = serviceStates().filter((d) => !d.running);
  if (down.length === 0) return [];
  const at = new Date().toISOString();
  // Workers of a killed master (Dovecot's login processes, Rspamd's workers) hold its ports
  // until they notice it is gone: a start that fails meanwhile is tried again for a while.
  let error: string | undefined;
  for (const deadline = Date.now() + RETRY_MS; ; sleepSync(2000)) {
    try {
      runtime.start();
      error = undefined;
      break;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      if (Date.now() > deadline) break;
    }
  }
  // Dovecot and OpenDKIM fork: their pid file shows up a moment after the start returned.
  let after = serviceStates();
  for (let waited = 0; error === undefined && waited < STAY_UP_MS && down.some((d) => !after.find((a) => a.name === d.name)?.running); waited += 250) {
    sleepSync(250);
    after = serviceStates();
  }
  // Mail deferred while a daemon was down goes now.
  if (after.find((d) => d.name === 'postfix')?.running) runtime.flushQueue();
  const records = down.map((d): Restart => {
    const ok = after.find((a) => a.name === d.name)?.running ?? false;
    const reason = d.problem ?? 'it died';
    return ok ? { at, daemon: d.name, reason, ok } : { at, daemon: d.name, reason, ok, error: error ?? 'it did not stay up' };
  });
  ensureDir(l.stateDir, { mode: 0o755 });
  writeAtomic(restartsFile(l), JSON.stringify([...recentRestarts(l), ...records].slice(-KEPT)) + '\n', { mode: 0o644 });
  return records;
}

const DAEMON_NAMES: Record<Service, string> = { postfix: 'Postfix', dovecot: 'Dovecot', rspamd: 'Rspamd', opendkim: 'OpenDKIM', clamd: 'ClamAV (clamd)', 'clamav-milter': 'clamav-milter' };

/** "Postfix restarted at 14:02 after it died" (the date too when it was not today). */
export function restartText(r: Restart, now = new Date()): string {
  const t = new Date(r.at);
  const hhmm = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}`;
  const when = t.toDateString() === now.toDateString() ? hhmm : `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')} ${hhmm}`;
  const name = DAEMON_NAMES[r.daemon];
  return r.ok ? `${name} restarted at ${when} after ${r.reason}` : `${name} could not be restarted at ${when} (${r.reason}): ${r.error}`;
}
