// Moving bytes between web streams (what age and the tar library speak) and our files, and
// reporting how many went by.
import type { FileSink } from '../sys/tree.ts';

/** Copy every chunk of `from` into `sink`; resolves with the byte count (the sink stays open). */
export async function pump(from: ReadableStream<Uint8Array>, sink: FileSink): Promise<number> {
  let bytes = 0;
  const reader = from.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    await sink.write(value);
    bytes += value.length;
  }
}

const MiB = 1024 * 1024;
export const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** Progress in bytes, reported at most every 1 % or 2 s (each report rewrites the job record). */
export function byteProgress(total: number, report: (done: number, text: string) => void) {
  let done = 0;
  let lastShare = -1;
  let lastAt = 0;
  return {
    add(n: number) {
      done += n;
      const share = Math.floor((100 * done) / Math.max(1, total));
      const now = Date.now();
      if (share === lastShare && now - lastAt < 2000) return;
      lastShare = share;
      lastAt = now;
      report(done, `${mib(done)} of ${mib(total)}`);
    },
    get done() {
      return done;
    },
  };
}
