// SHA512-CRYPT on threads: 5 000 rounds are ~5 ms of one core. Many passwords (user_import) go to
// every core: 1 000 mailboxes were 5 s of hashing on one of a router's four. One password (a warm
// user_add, hashSoon) goes to a thread kept for a burst of calls, hashing while the caller writes.
// Threads run `script` (lib/hash-worker.js); without one (run from source), or for a handful, the
// hashing stays here.
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

/**
 * The warm worker's hashing thread (see hashSoon): started by the first hash of a burst of calls,
 * used from the next one on, ended when the burst is over (its isolate is memory the resident
 * worker should not keep).
 */
interface HashThread {
  worker: Worker;
  online: boolean;
  /** Answers owed, in the order the passwords were sent (the thread answers in order). */
  waiting: { resolve: (hash: string) => void; reject: (e: Error) => void }[];
}

let keptScript: string | undefined;
let thread: HashThread | undefined;

/** From now on hashSoon may hash on a thread running `script` (lib/hash-worker.js; none: never). */
export function hashOnThread(script: string | undefined): void {
  keptScript = script;
}

/** End the hashing thread, if one runs (a hash it owes is then made here). */
export function endHashThread(): void {
  const t = thread;
  thread = undefined;
  if (t) void t.worker.terminate();
}

/**
 * `password`'s SHA512-CRYPT, asked for now and taken later: on the thread when one is up (it
 * hashes meanwhile, on another core, while the caller does the rest of its work), else here,
 * when first taken. A thread that fails leaves the hash to this one: it never fails the caller.
 */
export function hashSoon(password: string): () => Promise<string> {
  const t = runningThread();
  let here: Promise<string> | undefined;
  const hashHere = () => (here ??= Promise.resolve(sha512Crypt(password)));
  if (!t) return hashHere;
  const there = new Promise<string>((resolve, reject) => t.waiting.push({ resolve, reject }));
  t.worker.ref(); // an answer owed keeps this process up; an idle thread does not
  t.worker.postMessage([password]);
  const taken = there.catch(hashHere);
  return () => taken;
}

/** The thread when it is up; when none runs and one may, start it for the next calls. */
function runningThread(): HashThread | undefined {
  if (thread) return thread.online ? thread : undefined;
  if (!keptScript) return undefined;
  let worker: Worker;
  try {
    worker = new Worker(keptScript);
  } catch {
    return undefined; // no thread to be had (resources): this one hashes
  }
  const t: HashThread = { worker, online: false, waiting: [] };
  const fail = (e: Error) => {
    if (thread === t) thread = undefined;
    for (const w of t.waiting.splice(0)) w.reject(e);
  };
  t.worker.unref();
  t.worker.once('online', () => (t.online = true));
  t.worker.on('message', (hashes: string[]) => {
    t.waiting.shift()?.resolve(hashes[0]!);
    if (!t.waiting.length) t.worker.unref();
  });
  t.worker.once('error', fail);
  t.worker.once('exit', (code) => fail(new Error(`the hashing thread ended (exit ${code})`)));
  thread = t;
  return undefined;
}
