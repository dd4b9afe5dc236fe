// TLS: the certificate (overview.certificate), what each listener presents and whether renewal
// is due (ssl_status), and obtaining / renewing it (jobs: ACME may wait minutes for DNS).
import { useEffect } from 'preact/hooks';
import { call, isJobStarted } from '../client.ts';
import { may } from '../rights.ts';
import { jobsFinished, loadOverview, overview, overviewError, trackJob } from '../state.ts';
import { date } from '../format.ts';
import { Btn, Done, ErrorText, KeyValues, Loading, Section, useAction, useLoad } from '../ui.tsx';
import { CertificateDays } from './overview.tsx';
import type { SslStatus } from '../types.ts';

const LISTENER: Record<SslStatus['listeners'][number]['state'], [string, string]> = {
  match: ['success', 'presents it'],
  differs: ['warning', 'presents another one'],
  unreachable: ['notice', 'not reachable'],
};

function Listeners({ s }: { s: SslStatus }) {
  if (!s.listeners.length) return <p class="ms-empty">No TLS listener answered (is the server running?).</p>;
  return (
    <table class="table cbi-section-table ms-listeners">
      <tr class="tr table-titles">
        <th class="th">Listener</th>
        <th class="th">Port</th>
        <th class="th">TLS</th>
        <th class="th">Certificate</th>
      </tr>
      {s.listeners.map((l) => (
        <tr class="tr" key={l.name} data-listener={l.name}>
          <td class="td" data-title="Listener">{l.name}</td>
          <td class="td" data-title="Port">{l.port}</td>
          <td class="td" data-title="TLS">{l.tls === 'starttls' ? 'STARTTLS' : 'implicit'}</td>
          <td class="td" data-title="Certificate" title={l.error ?? l.fingerprint256 ?? undefined}>
            <span class={`label ${LISTENER[l.state][0]}`}>{LISTENER[l.state][1]}</span>
            {l.error && <span class="ms-empty"> {l.error}</span>}
          </td>
        </tr>
      ))}
    </table>
  );
}

export function TlsScreen() {
  const status = useLoad(() => call('ssl_status'));
  useEffect(() => {
    if (!overview.value) void loadOverview();
  }, []);
  useEffect(() => void status.load(), [jobsFinished.value]);
  const act = useAction();
  const start = (fn: () => Promise<object>) =>
    act.run(async () => {
      const r = await fn();
      if (isJobStarted(r)) {
        trackJob(r);
        return 'Started: see the progress bar above.';
      }
      void loadOverview();
      return 'Done.';
    });
  const o = overview.value;
  const c = o?.certificate;
  const s = status.data.value;
  return (
    <>
      <Section title="Certificate" descr="The certificate SMTP, submission, IMAP and POP3 present to clients.">
        {!o ? (
          overviewError.value ? <ErrorText error={overviewError.value} block /> : <Loading />
        ) : c ? (
          <KeyValues
            rows={[
              ['Subject', c.subject],
              ['Names', c.names.join(', ') || '—'],
              ['Issuer', c.selfSigned ? `${c.issuer} (self-signed)` : c.issuer],
              ['Valid until', <>{date(c.validTo)} <CertificateDays c={c} /></>],
              ['SHA-256 fingerprint', <code class="ms-wrap">{c.fingerprint256}</code>],
            ]}
          />
        ) : (
          <p>No certificate yet: one is made when the server first starts.</p>
        )}
        {c?.selfSigned && <div class="alert-message notice">A self-signed certificate makes mail clients warn. With ssl.type letsencrypt, Obtain certificate gets one from Let's Encrypt (DNS-01).</div>}
        {(may('ssl_setup') || may('ssl_renew')) && (
          <div class="ms-buttons">
            {may('ssl_setup') && <Btn kind="action" label="Obtain certificate" title="As ssl.type says: Let's Encrypt (ACME DNS-01), manual files or self-signed" busy={act.busy.value} onClick={() => void start(() => call('ssl_setup'))} />}
            {may('ssl_renew') && <Btn kind="action" label="Renew now" busy={act.busy.value} onClick={() => void start(() => call('ssl_renew', { force: true }))} />}
            <ErrorText error={act.error.value} />
            <Done text={act.done.value} />
          </div>
        )}
      </Section>
      <Section title="Renewal and listeners">
        <ErrorText error={status.error.value} block />
        {!s && !status.error.value && <Loading what="Asking every TLS listener…" />}
        {s && (
          <>
            {s.missingNames.length > 0 && <div class="alert-message warning">The certificate does not cover: {s.missingNames.join(', ')}</div>}
            <KeyValues
              rows={[
                ['Kind (ssl.type)', s.type],
                ['Names wanted', s.names.join(', ')],
                ['Renewal', <><span class={`label ${s.renewal.due ? 'warning' : 'success'}`}>{s.renewal.due ? 'due' : 'not due'}</span> {s.renewal.reason}</>],
                ...(s.renewal.lastAttempt ? [['Last attempt', `${date(s.renewal.lastAttempt.at)}: ${s.renewal.lastAttempt.ok ? 'succeeded' : `failed: ${s.renewal.lastAttempt.error ?? ''}`}`] as [string, string]] : []),
              ]}
            />
            <Listeners s={s} />
          </>
        )}
      </Section>
    </>
  );
}
