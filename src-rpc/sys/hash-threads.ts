// SHA512-CRYPT of many passwords (user_import) on every core: 5 000 rounds are ~5 ms of one core
// each, so 1 000 mailboxes were 5 s of hashing on one of a router's four. Threads run `script`
// (lib/hash-worker.js); without one (run from source), or for a handful, the hashing stays here.
import { availableParallelism, cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { sha512Crypt } from './sha512crypt.ts';

/** Passwords a thread is given at a time: the progress moves on per batch. */
const BATCH = 25;
/** Each thread is an isolate of ~7.5 MiB (an import's peak grew 73 -> 88 MiB with two). */
const MAX_THREADS = 4;

/** Each password's SHA512-CRYPT, in order; `hashed(n)` after each batch (n done so far). */
export async function sha512CryptAll(passwords: string[], script: string | undefined, hashed: (done: number) => void): Promise<string[]> {
  const batches = Array.from({ length: Math.ceil(passwords.length / BATCH) }, (_, i) => passwords.slice(i * BATCH, (i + 1) * BATCH));
  const threads = Math.min(batches.length, MAX_THREADS, typeof availableParallelism === 'function' ? availableParallelism() : cpus().length);
  const results: string[][] = [];
  let done = 0;
  const finished = (i: number, hashes: string[]) => {
    results[i] = hashes;
    hashed((done += hashes.length));
  };
  if (!script || threads < 2) {
    batches.forEach((batch, i) => finished(i, batch.map((p) => sha512Crypt(p))));
    return results.flat();
  }
  const workers = Array.from({ length: threads }, () => new Worker(script));
  try {
    let next = 0;
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let current = -1;
            const give = () => {
              if (next >= batches.length) return resolve();
              current = next++;
              worker.postMessage(batches[current]);
            };
            worker.on('message', (hashes: string[]) => {
              finished(current, hashes);
              give();
            });
            worker.once('error', reject);
            worker.once('exit', (code) => reject(new Error(`a hashing thread ended (exit ${code})`)));
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results.flat();
}
