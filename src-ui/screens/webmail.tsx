// Webmail (Roundcube): is it installed, pointed at this server, answering; configure it (a job:
// the progress bar above follows it) and open it.
import { useEffect } from 'preact/hooks';
import { call, isJobStarted } from '../client.ts';
import { may } from '../rights.ts';
import { jobsFinished, trackJob } from '../state.ts';
import { Btn, Done, ErrorText, KeyValues, Loading, Section, useAction, useLoad } from '../ui.tsx';
import type { WebmailStatus } from '../types.ts';

const STATE: Record<WebmailStatus['state'], [string, string]> = {
  ok: ['success', 'working'],
  not_running: ['warning', 'not answering'],
  stale: ['warning', 'needs configure'],
  not_configured: ['notice', 'not pointed at this server'],
  not_installed: ['notice', 'not installed'],
};

/** webmail.url, or this router's own name on the webmail port. */
function webmailLink(s: WebmailStatus): string {
  return s.url ?? `${location.protocol === 'https:' ? 'https' : 'http'}://${location.hostname}:${s.port}/`;
}

export function WebmailScreen() {
  const st = useLoad(() => call('webmail_status'));
  const act = useAction();
  useEffect(() => void st.load(), [jobsFinished.value]);
  const s = st.data.value;
  const configure = () =>
    act.run(async () => {
      const r = await call('webmail_configure');
      if (isJobStarted(r)) {
        trackJob(r);
        return 'Started: see the progress bar above.';
      }
      void st.load();
      return 'Configured.';
    });
  return (
    <Section title="Webmail" descr="Roundcube, reading and sending mail through this server over verified TLS.">
      <ErrorText error={st.error.value} block />
      {!s && !st.error.value && <Loading what="Asking Roundcube…" />}
      {s && (
        <>
          <p class="ms-webmail-state" data-state={s.state}>
            <span class={`label ${STATE[s.state][0]}`}>{STATE[s.state][1]}</span> {s.summary}
          </p>
          <KeyValues
            rows={[
              ['Configuration', <><code class="ms-wrap">{s.configPath}</code> {s.installed ? `(our block: ${s.block})` : '(missing)'}</>],
              ...(s.endpoints
                ? ([
                    ['IMAP', s.endpoints.imap],
                    ['SMTP', s.endpoints.smtp],
                    ['Sieve', s.endpoints.sieve ?? 'off'],
                    ['Certificate check', s.endpoints.certificate === 'pinned' ? 'pinned to this server\'s self-signed certificate' : 'system CAs'],
                  ] as [string, string][])
                : []),
              ['Login page', s.http.loginPage ? `answers${s.http.version ? `, Roundcube ${s.http.version}` : ''}${s.http.productName ? ` — "${s.http.productName}"` : ''}` : `not reached at ${s.http.url}${s.http.error ? `: ${s.http.error}` : ''}`],
              ...(s.overridden.length ? [['Overridden after our block', s.overridden.join(', ')] as [string, string]] : []),
              ['Last login error', s.lastLoginError ? <code class="ms-wrap">{s.lastLoginError}</code> : 'none logged'],
            ]}
          />
        </>
      )}
      <div class="ms-buttons">
        {s?.http.loginPage && (
          <a class="btn cbi-button cbi-button-neutral" href={webmailLink(s)} target="_blank" rel="noopener noreferrer">
            Open webmail
          </a>
        )}
        {may('webmail_configure') && s?.installed && <Btn kind="action" label="Configure" title="Point Roundcube at this server (our block in its config.inc.php; the rest is kept)" busy={act.busy.value} onClick={() => void configure()} />}
        <ErrorText error={act.error.value} />
        <Done text={act.done.value} />
      </div>
    </Section>
  );
}
