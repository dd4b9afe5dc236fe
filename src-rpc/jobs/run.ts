// Long work runs as a job: rpcd kills a call after 30 s and LuCI gives up after 20 s. The rpcd
// door starts a detached runner and answers with the job id at once; the CLI runs the same job
// in the foreground. Either way the record is the same, so the page finds it again.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { MailError, toErrorReply } from '../core/errors.ts';
import { withLock } from '../sys/lock.ts';
import { keepYoungGeneration } from '../sys/memory.ts';
import { createJob, saveJob, readJob, jobArgs, jobLog, runningJobOfKind, type Job } from './store.ts';

export type Progress = (percent: number, phase: string) => void;
export type JobBody = (args: object, progress: Progress) => Promise<object>;

function assertNotRunning(kind: string): void {
  const running = runningJobOfKind(kind);
  if (running) throw new MailError('busy', `a ${kind} job is already running (${running.id}, ${running.progress}% ${running.phase})`);
}

/**
 * A job may stream the whole mail store for minutes (mesh backup, restore, sync), and V8 then
 * grows its young generation to the size it picks for throughput (3 × 16 MiB). Kept at 2 MiB,
 * a backup of 1 GiB of mail peaked at 88-91 MB instead of 102-103 MB, in the same time. The
 * CLI runs its jobs in its own process (a second process to set the flag would hold more memory
 * than the flag saves), which stops the growth when the job starts (runForeground).
 */
const RUNNER_FLAGS = ['--max-semi-space-size=2'];

/** rpcd door: record the job, start `<bundle> job-run <id>` in its own session, return at once. */
export function startDetached(kind: string, args: object, runnerArgv: string[]): Job {
  assertNotRunning(kind);
  const job = createJob(kind, args, 0);
  const log = openSync(jobLog(job.id), 'a', 0o600);
  // stdio goes to the job's log, never to ours: rpcd replies only once our stdout/stderr close.
  const child = spawn(process.execPath, [...RUNNER_FLAGS, ...runnerArgv, 'job-run', job.id], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  job.pid = child.pid ?? 0;
  saveJob(job);
  return job;
}

/** Run a recorded job in this process (the detached runner). */
export async function runRecorded(id: string, body: JobBody): Promise<Job> {
  const job = readJob(id);
  if (!job) throw new MailError('not_found', `no job ${id}`);
  return execute({ ...job, pid: process.pid }, jobArgs(id), body);
}

/** CLI door: the same job, in the foreground, with a progress line on stderr. */
export async function runForeground(kind: string, args: object, body: JobBody, onProgress: Progress): Promise<Job> {
  assertNotRunning(kind);
  keepYoungGeneration();
  return execute(createJob(kind, args, process.pid), args, body, onProgress);
}

async function execute(job: Job, args: object, body: JobBody, onProgress?: Progress): Promise<Job> {
  saveJob(job);
  const progress: Progress = (percent, phase) => {
    job.progress = Math.max(0, Math.min(100, Math.round(percent)));
    job.phase = phase;
    saveJob(job);
    onProgress?.(job.progress, phase);
  };
  try {
    // One job of a kind at a time, also against a second runner racing past assertNotRunning.
    job.result = await withLock(`job:${job.kind}`, 0, () => body(args, progress));
    job.state = 'done';
    job.progress = 100;
    job.phase = 'done';
  } catch (e) {
    job.state = 'failed';
    job.error = toErrorReply(e);
  }
  job.finished = new Date().toISOString();
  saveJob(job);
  return job;
}
