// Progress bars of long work (install now; certificates and backups later). Shown on every
// tab; the jobs come from the call that started them, or — after a reload — from
// overview.jobs / job_list, and are followed by polling job_status.
import { dismissJob, jobs, type JobView } from './state.ts';
import { Btn } from './ui.tsx';

const KIND: Record<string, string> = {
  install: 'Install',
  ssl_setup: 'Certificate',
  ssl_renew: 'Certificate renewal',
  mesh_backup: 'Backup',
  mesh_sync: 'Mesh sync',
  mesh_restore: 'Restore',
  dns_setup: 'DNS publication',
  webmail_configure: 'Webmail configuration',
};

export const jobLabel = (kind: string) => KIND[kind] ?? kind.replace(/_/g, ' ');

function JobBar({ j }: { j: JobView }) {
  const label = jobLabel(j.kind);
  if (j.state === 'running') {
    return (
      <div class="ms-job" data-job={j.id} data-state="running">
        <div class="cbi-progressbar" title={`${label}: ${j.progress}% — ${j.phase}`} role="progressbar" aria-label={label} aria-valuenow={j.progress} aria-valuemin={0} aria-valuemax={100}>
          <div style={{ width: `${j.progress}%` }} />
        </div>
        {j.lost && <span class="ms-error">Cannot follow this job: {j.lost}</span>}
      </div>
    );
  }
  const ok = j.state === 'done';
  return (
    <div class={`alert-message ${ok ? 'success' : 'error'} ms-job`} data-job={j.id} data-state={j.state} role="status">
      <span>{ok ? `${label} finished.` : `${label} failed: ${j.error ?? 'unknown error'}`}</span>
      <Btn kind="neutral" label="Dismiss" onClick={() => dismissJob(j.id)} />
    </div>
  );
}

export function JobBars() {
  const list = jobs.value;
  if (!list.length) return null;
  return (
    <div class="ms-jobs" aria-live="polite">
      {list.map((j) => (
        <JobBar key={j.id} j={j} />
      ))}
    </div>
  );
}
