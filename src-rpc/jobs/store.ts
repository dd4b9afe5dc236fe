// Job records under /var/run/mailserver/jobs/<id>/: state.json (progress, result), args.json
// (0600) and log. A record whose process is gone while it says "running" was killed.
import { join } from 'node:path';
import { randomBytes } from '../sys/random.ts';
import { hostPath } from '../sys/paths.ts';
import { readText, writeAtomic, ensureDir, listDir, removeTree } from '../sys/fs.ts';
import { processAlive } from '../sys/spawn.ts';
import { MailError } from '../core/errors.ts';

export type JobState = 'running' | 'done' | 'failed';

export interface Job {
  id: string;
  kind: string;
  state: JobState;
  progress: number;
  phase: string;
  pid: number;
  started: string;
  finished: string | null;
  result: object | null;
  error: { error: string; code: string; field?: string } | null;
}

export const jobsDir = () => hostPath('/var/run/mailserver/jobs');
/** Only a well-formed id names a directory: a path in disguise never reaches the file system. */
function jobDir(id: string): string {
  if (!isJobId(id)) throw new MailError('invalid_argument', 'is not a job id', 'id');
  return join(jobsDir(), id);
}

/** A damaged record is reported by name; its bytes never travel in an error. */
function parseRecord<T>(id: string, file: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MailError('internal', `the record ${file} of job ${id} is damaged`);
  }
}
export const jobLog = (id: string) => join(jobDir(id), 'log');

export function isJobId(id: string): boolean {
  return /^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$/.test(id);
}

export function createJob(kind: string, args: object, pid: number): Job {
  const id = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(4).toString('hex')}`;
  ensureDir(jobsDir(), { mode: 0o700 });
  ensureDir(jobDir(id), { mode: 0o700 });
  writeAtomic(join(jobDir(id), 'args.json'), JSON.stringify(args), { mode: 0o600 });
  const job: Job = { id, kind, state: 'running', progress: 0, phase: 'starting', pid, started: new Date().toISOString(), finished: null, result: null, error: null };
  saveJob(job);
  return job;
}

export function saveJob(job: Job): void {
  writeAtomic(join(jobDir(job.id), 'state.json'), JSON.stringify(job), { mode: 0o600 });
}

export function jobArgs(id: string): object {
  return parseRecord<object>(id, 'args.json', readText(join(jobDir(id), 'args.json')) ?? '{}');
}

/** The record as callers should see it: a running job whose process died has failed. */
export function readJob(id: string): Job | null {
  const text = readText(join(jobDir(id), 'state.json'));
  if (!text) return null;
  const job = parseRecord<Job>(id, 'state.json', text);
  if (job.state === 'running' && !processAlive(job.pid)) {
    return { ...job, state: 'failed', error: { error: `the job process (pid ${job.pid}) died during "${job.phase}"`, code: 'internal' } };
  }
  return job;
}

export function listJobs(): Job[] {
  return listDir(jobsDir())
    .filter(isJobId)
    .map(readJob)
    .filter((j): j is Job => j !== null)
    .sort((a, b) => (a.id < b.id ? 1 : -1));
}

export function runningJobOfKind(kind: string): Job | undefined {
  return listJobs().find((j) => j.kind === kind && j.state === 'running');
}

/** Forget finished jobs older than `days`; returns how many. */
export function pruneJobs(days: number, now = Date.now()): number {
  const old = listJobs().filter((j) => j.state !== 'running' && j.finished && now - Date.parse(j.finished) > days * 86_400_000);
  for (const j of old) removeTree(jobDir(j.id));
  return old.length;
}
