// What a handler gets: the settings as UCI has them now, where files live, and the runtime.
// Built inside the write lock for write methods, so it is never stale.
import { parseSettingsFile } from '../config/load.ts';
import { serializeUci, type UciPackage } from '../config/uci.ts';
import { readText, writeAtomic } from '../sys/fs.ts';
import { layoutFor, uciFilePath, type Layout } from '../runtime/layout.ts';
import type { Settings } from '../config/settings.ts';

export interface Context {
  readonly settings: Settings;
  readonly uci: UciPackage;
  readonly layout: Layout;
  /** Commit a changed UCI package (as `uci commit` writes it) and re-read the settings. */
  commitUci(uci: UciPackage): Context;
  /** Report progress of a job (0–100 and a phase); a no-op outside jobs. */
  progress(percent: number, phase: string): void;
}

export function loadContext(progress: Context['progress'] = () => {}): Context {
  const { uci, settings } = parseSettingsFile(readText(uciFilePath()));
  return {
    settings,
    progress,
    uci,
    layout: layoutFor(settings),
    commitUci(next) {
      const text = serializeUci(next);
      parseSettingsFile(text); // refuse to commit settings we could not load again
      writeAtomic(uciFilePath(), text, { mode: 0o644 });
      return loadContext(progress);
    },
  };
}
