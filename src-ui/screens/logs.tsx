// Logs: the last N lines of Postfix and/or Dovecot.
import { useEffect } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { call } from '../client.ts';
import { Btn, ErrorText, Section, useLoad } from '../ui.tsx';

const LINES = [50, 200, 1000];

export function LogsScreen() {
  const lines = useSignal(50);
  const service = useSignal<'' | 'postfix' | 'dovecot'>('');
  const logs = useLoad(() => call('logs', { lines: lines.value, service: service.value || undefined }));
  useEffect(() => void logs.load(), [lines.value, service.value]);
  const l = logs.data.value?.lines;
  return (
    <Section title="Logs">
      <div class="ms-buttons ms-logbar">
        <label>
          Lines{' '}
          <select class="cbi-input-select" value={lines.value} onChange={(e) => (lines.value = Number(e.currentTarget.value))}>
            {LINES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          Service{' '}
          <select class="cbi-input-select" value={service.value} onChange={(e) => (service.value = e.currentTarget.value as typeof service.value)}>
            <option value="">Postfix and Dovecot</option>
            <option value="postfix">Postfix</option>
            <option value="dovecot">Dovecot</option>
          </select>
        </label>
        <Btn kind="action" label="Refresh" busy={logs.loading.value} onClick={() => void logs.load()} />
      </div>
      <ErrorText error={logs.error.value} block />
      {l && (l.length ? <pre class="ms-log">{l.join('\n')}</pre> : <p class="ms-empty">No log lines yet.</p>)}
    </Section>
  );
}
