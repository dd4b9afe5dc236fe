// The warm path of the rpcd plugin. rpcd starts a process per call and Node's start dominates,
// so while an admin is active a resident worker (this same bundle, the same dispatch) answers the
// calls the sh front hands it, and exits after main.worker_idle seconds without calls.
//
// The door (under /var/run/mailserver/worker, root only):
//   pid         the worker's pid, written once the door is open
//   door-v2     a FIFO; the front writes one line "<front pid> <method> <waiter pid>" (shorter
//               than PIPE_BUF, so lines of parallel calls never mix). v2 names this protocol: a
//               front and a worker of other versions (a package upgrade) never meet, the front
//               finds no door of its own and runs cold.
//   calls/<pid>.in    the call's stdin, written by the front before the line
//   calls/<pid>.out   a reply too long for one atomic write into a pipe
// The waiter is a subshell of the front; its stdout (and fd 4, a copy of it) is the pipe the
// front reads its answer from. The worker opens that pipe through /proc/<waiter>/fd/4 and kills
// the waiter, so the pipe ends when the worker has written "=<reply>" (JSON.stringify never
// writes a newline: one line, shorter than PIPE_BUF: one atomic write) or "ok" once a longer
// reply is whole in .out, and closed it, or when the worker dies. The front falls back to the
// cold path (`node luci.mailserver.js call`, fed the same .in) on any other answer, or none; see
// the front, src-rpc/rpcd/front.sh. Opening the pipe through /proc (no mkfifo per call) spares
// the front the start of a program: a millisecond or more of each warm call.
//
// Nothing is cached between calls: every call loads settings and store from the files as the
// cold path does, so a write made by another door is seen by the next call. A SIGKILL at any
// point loses nothing: writes are atomic under the write lock (released by the kernel), and a
// call in flight runs again cold.
import { join } from 'node:path';
import { hostPath } from '../sys/paths.ts';
import { withLock, LockBusyError } from '../sys/lock.ts';
import { ensureDir, listDir, readText, removeTree, writeAtomic } from '../sys/fs.ts';
import { closeFd, makeFifo, openAnswerPipe, openToRead, readFifoLines, tellPipe, writePrivate } from '../sys/fifo.ts';
import { processRunning } from '../sys/proc.ts';
import { startInBackground } from '../sys/spawn.ts';
import { deferBackupRemoval, removeCommittedBackups } from '../sys/undo.ts';
import { endHashThread, hashOnThread } from '../sys/hash-threads.ts';
import { threadScript } from '../core/lazy-bundle.ts';
import { toErrorReply } from '../core/errors.ts';
import { settingsOfFile } from '../config/load.ts';
import { uciFilePath } from '../core/layout.ts';

/** The front finds the door here (under MAILSERVER_ROOT), so its path is part of the contract. */
export const WORKER_DIR = '/var/run/mailserver/worker';

/** A reply line shorter than PIPE_BUF goes into the FIFO in one piece, without blocking. */
const INLINE_MAX = 4000;

/**
 * Calls come in bursts (a page opening, a script adding mailboxes): once a burst is over, the
 * hashing thread ends (sys/hash-threads hashSoon) and garbage is collected.
 */
const SETTLE_MS = 1000;

/** Answers one call whose JSON arguments can be read from inputFd; arrivedAt: epoch ms. */
export type Answer = (method: string, inputFd: number, arrivedAt: number) => Promise<object>;

const paths = () => {
  const dir = hostPath(WORKER_DIR);
  return { dir, pid: join(dir, 'pid'), door: join(dir, 'door-v2'), calls: join(dir, 'calls') };
};

/** main.worker_idle as UCI has it now; a file we cannot read starts no worker. */
function idleSeconds(): number {
  try {
    return settingsOfFile(readText(uciFilePath())).main.workerIdle;
  } catch {
    return 0;
  }
}

function workerPid(): number {
  return Number(readText(paths().pid)?.trim() ?? 0);
}

/** After a cold call: start the worker in the background unless it runs or is turned off. */
export function startWorkerIfWanted(bundle: string): void {
  if (idleSeconds() <= 0 || processRunning(workerPid())) return;
  // A small young generation and a collection when calls pause: the worker stays resident, so
  // its memory is what counts (V8's defaults size the heap for throughput). That collection
  // compacts, so the pages a write's burst (10 000 users parsed and rendered) filled go back to
  // the system (~10 MiB); one malloc arena keeps glibc from holding freed memory per thread,
  // and a fixed mmap threshold keeps it from raising the threshold after each large free, which
  // made the file-sized buffers of `user add` land in the heap and stay (measured: 62 MiB after
  // the bench's adds, 54 MiB with it). musl, OpenWrt's libc, ignores both.
  startInBackground([process.execPath, '--max-semi-space-size=1', '--compact-on-every-full-gc', '--expose-gc', bundle, 'worker'], { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072' });
}

/** The worker's life: one per root (a second one exits at once), until idle or SIGTERM. */
export async function serveWarm(answer: Answer): Promise<void> {
  deferBackupRemoval();
  hashOnThread(threadScript('hash-worker.js'));
  try {
    await withLock('worker', 0, () => new Promise<void>((stopped) => open(answer, stopped)));
  } catch (e) {
    if (!(e instanceof LockBusyError)) throw e;
  }
  process.exit(0); // the door's stream would keep the loop alive
}

function open(answer: Answer, stopped: () => void): void {
  const p = paths();
  ensureDir(p.dir, { mode: 0o700 });
  ensureDir(p.calls, { mode: 0o700 });
  // Files of fronts rpcd killed (timeout) while a previous worker served them.
  for (const name of listDir(p.calls)) if (!processRunning(Number(name.split('.')[0]))) removeTree(join(p.calls, name));
  removeTree(p.door);
  makeFifo(p.door);

  let inFlight = 0;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  const collect = (globalThis as { gc?: () => void }).gc;
  const settled = () => {
    endHashThread();
    collect?.();
  };
  const stop = () => {
    stopping = true;
    clearTimeout(timer);
    clearTimeout(settle);
    // Door first: a front that finds no door or no pid goes cold.
    if (workerPid() === process.pid) removeTree(p.pid);
    removeTree(p.door);
    // Calls in flight (a write waiting for the lock or for its flushes) are answered first: the
    // last one to end stops us.
    if (inFlight === 0) {
      endHashThread();
      stopped();
    }
  };
  const arm = () => {
    const idle = idleSeconds();
    if (idle <= 0) return stop();
    timer = setTimeout(stop, idle * 1000);
    settle = setTimeout(settled, SETTLE_MS);
  };

  const serve = async (front: number, method: string, waiter: number, arrivedAt: number) => {
    const base = join(p.calls, String(front));
    const remove = (...exts: string[]) => exts.forEach((ext) => removeTree(`${base}.${ext}`));
    // From here on, if this process dies, the front's pipe ends and it runs the call cold.
    const answerPipe = openAnswerPipe(waiter, front);
    if (answerPipe === null) return remove('in'); // the front is gone
    const fd = openToRead(`${base}.in`);
    try {
      if (fd === null) {
        // Gone (not by us): its stdin is spent, so the front could not run it cold as asked.
        const lost = new Error(`the call's arguments were lost before the worker read them (${base}.in is gone); nothing was done, call again`);
        return void tellPipe(answerPipe, `=${JSON.stringify(toErrorReply(lost))}`);
      }
      const reply = JSON.stringify(await answer(method, fd, arrivedAt));
      if (Buffer.byteLength(reply) < INLINE_MAX) {
        // Small (most replies): in the pipe itself, one atomic write, so the front needs neither
        // cat nor rm; its file can go at once.
        tellPipe(answerPipe, `=${reply}`);
        remove('in');
      } else {
        writePrivate(`${base}.out`, reply);
        if (!tellPipe(answerPipe, 'ok')) remove('in', 'out');
      }
    } catch {
      tellPipe(answerPipe, 'cold'); // the front runs the call cold
    } finally {
      if (fd !== null) closeFd(fd);
      closeFd(answerPipe);
      removeCommittedBackups(); // after the reply: see deferBackupRemoval
    }
  };

  readFifoLines(p.door, (line) => {
    const m = /^([0-9]{1,10}) ([a-z0-9_]{1,64}) ([0-9]{1,10})$/.exec(line);
    if (!m) return;
    clearTimeout(timer);
    clearTimeout(settle);
    inFlight++;
    // The call arrived now, not when this worker started: a writer's wait in line counts from here.
    void serve(Number(m[1]), m[2]!, Number(m[3]), Date.now()).finally(() => {
      if (--inFlight === 0) (stopping ? stop : arm)();
    });
  });
  process.once('SIGTERM', stop);
  writeAtomic(p.pid, `${process.pid}\n`, { mode: 0o600 });
  arm();
}
