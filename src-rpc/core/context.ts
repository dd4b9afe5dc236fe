// What a handler gets: the settings as UCI has them now, where files live, and what it may ask
// of the running daemons. Built inside the write lock for write methods, so it is never stale.
import { settingsOfFile, uciOf } from '../config/load.ts';
import { serializeUci, type UciPackage } from '../config/uci.ts';
import { readText, writeAtomic } from '../sys/fs.ts';
import { layoutFor, uciFilePath, type Layout } from './layout.ts';
import type { Settings } from '../config/settings.ts';

export type Service = 'postfix' | 'dovecot' | 'rspamd' | 'opendkim' | 'clamd' | 'clamav-milter';

/**
 * The runtime as features see it. The door (api/) hands it in, so features never import the
 * runtime and never ask which one runs.
 */
export interface Daemons {
  /** Render every generated file, write what changed, reload the daemons it belongs to. */
  apply(ctx: Context): { reloaded: string[] };
  /** Reload running daemons (no restart): they re-read configuration and certificates. */
  reload(ctx: Context, services: Service[]): Service[];
  /** Converge everything and start the daemons (a no-op for those running). */
  start(ctx: Context): Promise<object>;
  stop(ctx: Context): Promise<object>;
  /** Per mailbox: the auth service knows it (passdb) and how many messages Dovecot sees. */
  checkMailboxes(ctx: Context, emails: string[]): { email: string; authenticates: boolean; messages: number | null; error?: string }[];
}

/** Runs fn inside the write lock, with a context loaded there (handed to `underProcd` methods). */
export type Locked = <T>(fn: (ctx: Context) => Promise<T> | T) => Promise<T>;

export interface Context {
  readonly settings: Settings;
  readonly uci: UciPackage;
  readonly layout: Layout;
  readonly daemons: Daemons;
  /** Commit a changed UCI package (as `uci commit` writes it) and re-read the settings. */
  commitUci(uci: UciPackage): Context;
  /** Report progress of a job (0–100 and a phase); a no-op outside jobs. */
  progress(percent: number, phase: string): void;
}

export function loadContext(daemons: Daemons, progress: Context['progress'] = () => {}): Context {
  const text = readText(uciFilePath());
  const settings = settingsOfFile(text);
  let uci: UciPackage | undefined;
  return {
    settings,
    progress,
    // Parsed when a method first asks (most only read the settings); the same tree after that.
    get uci() {
      return (uci ??= uciOf(text));
    },
    daemons,
    layout: layoutFor(settings),
    commitUci(next) {
      const text = serializeUci(next);
      settingsOfFile(text); // refuse to commit settings we could not load again
      writeAtomic(uciFilePath(), text, { mode: 0o644 });
      return loadContext(daemons, progress);
    },
  };
}
