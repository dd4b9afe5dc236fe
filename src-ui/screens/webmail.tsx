// Webmail (Roundcube): state and configuration, once the webmail issue lands.
import { useEffect } from 'preact/hooks';
import { call } from '../client.ts';
import { may } from '../rights.ts';
import { Btn, Done, ErrorText, KeyValues, Loading, Section, useAction, useLoad } from '../ui.tsx';

export function WebmailScreen() {
  const st = useLoad(() => call('webmail_status'));
  const act = useAction();
  useEffect(() => void st.load(), []);
  const s = st.data.value;
  return (
    <Section title="Webmail" descr="Roundcube, reading mail through this server's IMAP.">
      <ErrorText error={st.error.value} block />
      {!s && !st.error.value && <Loading />}
      {s && <KeyValues rows={Object.entries(s).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])} />}
      {may('webmail_configure') && (
        <div class="ms-buttons">
          <Btn
            kind="action"
            label="Configure webmail"
            busy={act.busy.value}
            onClick={() =>
              void act.run(async () => {
                await call('webmail_configure');
                void st.load();
                return 'Configured.';
              })
            }
          />
          <ErrorText error={act.error.value} />
          <Done text={act.done.value} />
        </div>
      )}
    </Section>
  );
}
