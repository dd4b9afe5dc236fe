// A long stream's memory kept flat: the memory of spent ArrayBuffers given back, and (for a job in
// the CLI's process) the young generation kept at its size. V8 frees a read buffer that outlived a
// young-generation collection only at its next full collection, and starts one by itself only
// when such external memory has grown by about 32 MiB: a backup streaming a gigabyte of mail ran
// with that much garbage on top of its working set (measured: process.memoryUsage().arrayBuffers
// saw-toothing 0 → 30 MiB, peak RSS 106-110 MiB). Long streams call bufferReleaser every few MiB.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null = null;

const MiB = 1024 * 1024;
/** How often (bytes streamed) the spent buffers are looked at, and how many may wait for V8. */
const LOOK_EVERY = 4 * MiB;
const RELEASE_ABOVE = 8 * MiB;

/** Call with the size of every chunk a long stream read: now and then, a full collection. */
export function bufferReleaser(): (bytes: number) => void {
  let streamed = 0;
  return (bytes) => {
    const before = Math.floor(streamed / LOOK_EVERY);
    streamed += bytes;
    if (Math.floor(streamed / LOOK_EVERY) > before) releaseBuffers(RELEASE_ABOVE);
  };
}

/**
 * For a job run in this process (the CLI's): V8 grows its young generation towards 3 × 16 MiB
 * for throughput under a long stream. A backup of 1 GiB of mail from the CLI peaked at 99-103 MB,
 * 84-86 MB with the young generation kept at its size from the start (V8 reads this flag each
 * time it would grow it). rpcd's job runner starts with the same effect (jobs/run.ts RUNNER_FLAGS).
 */
export function keepYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

function releaseBuffers(limitBytes: number): void {
  if (process.memoryUsage().arrayBuffers < limitBytes) return;
  if (!gc) {
    // The flag makes the next context get `gc`; the main context keeps its globals.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
