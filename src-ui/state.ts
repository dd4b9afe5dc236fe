// State shared between screens: which tab is open, the overview, the jobs.
import { signal } from '@preact/signals';
import { call, CallError, fromRejection } from './client.ts';
import type { Job, JobStarted, JobWithLog, Overview } from './types.ts';

export const TAB_IDS = ['overview', 'mailboxes', 'aliases', 'domains', 'dns', 'tls', 'mesh', 'webmail', 'logs'] as const;
export type TabId = (typeof TAB_IDS)[number];

const fromHash = (): TabId => {
  const h = location.hash.slice(1) as TabId;
  return TAB_IDS.includes(h) ? h : 'overview';
};

export const tab = signal<TabId>(fromHash());
addEventListener('hashchange', () => (tab.value = fromHash()));

export function openTab(id: TabId): void {
  tab.value = id;
  history.replaceState(null, '', `#${id}`);
}

// --- overview (Overview, Mailboxes and TLS screens) ------------------------------------------

/** Tabs that load the overview when they open: Mailboxes for the quota settings, TLS for the certificate. */
export const READS_OVERVIEW: readonly TabId[] = ['overview', 'mailboxes', 'tls'];

export const overview = signal<Overview | null>(null);
export const overviewError = signal<CallError | null>(null);
export const overviewLoading = signal(false);

export async function loadOverview(): Promise<void> {
  overviewLoading.value = true;
  try {
    const o = await call('overview');
    overview.value = o;
    overviewError.value = null;
    adoptRunning(o.jobs);
  } catch (e) {
    overviewError.value = fromRejection(e);
  } finally {
    overviewLoading.value = false;
  }
}

// --- jobs ------------------------------------------------------------------------------------

export interface JobView {
  id: string;
  kind: string;
  state: Job['state'];
  progress: number;
  phase: string;
  error: string | null;
  /** Last lines of the job's log: those of the failed phase when the error carries them. */
  log: string[];
  /** Polling job_status failed: the job may still run, we just cannot see it. */
  lost: string | null;
}

export const jobs = signal<JobView[]>([]);
const POLL_MS = 1000;
let timer: ReturnType<typeof setTimeout> | undefined;

function put(j: JobView): void {
  const rest = jobs.value.filter((x) => x.id !== j.id);
  jobs.value = [...rest, j].sort((a, b) => (a.id < b.id ? -1 : 1));
}

const view = (j: Job | JobWithLog): JobView => ({
  id: j.id,
  kind: j.kind,
  state: j.state,
  progress: j.progress,
  phase: j.phase,
  error: j.error?.error ?? null,
  log: (j.error && 'log' in j.error && j.error.log) || ('log' in j ? j.log : []),
  lost: null,
});

/** A job method answered {job, kind, state}: show its bar and follow it. */
export function trackJob(s: JobStarted): void {
  put({ id: s.job, kind: s.kind, state: s.state, progress: 0, phase: 'starting', error: null, log: [], lost: null });
  schedule();
}

/** Jobs found running when the page loads (overview.jobs or job_list): resume their bars. */
export function adoptRunning(list: Job[]): void {
  for (const j of list) if (j.state === 'running' && !jobs.value.some((x) => x.id === j.id)) put(view(j));
  schedule();
}

export async function findRunningJobs(): Promise<void> {
  try {
    adoptRunning((await call('job_list', { limit: 20 })).items);
  } catch {
    // Not fatal: the screen's own call shows what is wrong with the session or the backend.
  }
}

export function dismissJob(id: string): void {
  jobs.value = jobs.value.filter((j) => j.id !== id);
}

const following = () => jobs.value.filter((j) => j.state === 'running' && !j.lost);

function schedule(): void {
  if (timer === undefined && following().length) timer = setTimeout(poll, POLL_MS);
}

async function poll(): Promise<void> {
  await Promise.all(
    following().map(async (j) => {
      try {
        const s = await call('job_status', { id: j.id });
        put(view(s));
        if (s.state !== 'running') onJobFinished(s);
      } catch (e) {
        put({ ...j, lost: fromRejection(e).message });
      }
    }),
  );
  timer = undefined;
  schedule();
}

/** Counts finished jobs: screens whose data a job changes reload when it moves. */
export const jobsFinished = signal(0);

function onJobFinished(_j: JobWithLog): void {
  jobsFinished.value++;
  if (overview.value) void loadOverview();
}
