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

/** The container install's phases, in order: its progress text and a failure's message start with one. */
const INSTALL_PHASES = ['rootfs', 'packages', 'configure', 'start'];
const phaseOf = (text: string | null) => INSTALL_PHASES.find((p) => text?.startsWith(p) && !/\w/.test(text[p.length] ?? ''));

/** rootfs → packages → configure → start, each marked done, current (or failed) or to come. */
function Phases({ at, failed }: { at: string; failed: boolean }) {
  const n = INSTALL_PHASES.indexOf(at);
  return (
    <ol class="ms-phases">
      {INSTALL_PHASES.map((p, i) => (
        <li key={p} data-phase={p} class={i < n ? 'done' : i > n ? undefined : failed ? 'failed' : 'current'}>
          {p}
        </li>
      ))}
    </ol>
  );
}

function JobBar({ j }: { j: JobView }) {
  const label = jobLabel(j.kind);
  const running = j.state === 'running';
  // A failure names its phase first ("packages: apt-get ..."); else it failed where the progress was.
  const phase = phaseOf(running ? j.phase : j.error) ?? phaseOf(j.phase);
  const steps = j.kind === 'install' && phase && <Phases at={phase} failed={j.state === 'failed'} />;
  const error = phase && j.error?.startsWith(`${phase}: `) ? j.error.slice(phase.length + 2) : j.error;
  if (running) {
    return (
      <div class="ms-job" data-job={j.id} data-state="running">
        {steps}
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
      {!ok && steps}
      <span>{ok ? `${label} finished.` : `${label} failed${phase ? ` in phase ${phase}` : ''}: ${error ?? 'unknown error'}`}</span>
      <Btn kind="neutral" label="Dismiss" onClick={() => dismissJob(j.id)} />
      {!ok && j.log.length > 0 && <pre class="ms-log">{j.log.join('\n')}</pre>}
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
