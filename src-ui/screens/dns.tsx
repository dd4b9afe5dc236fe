// DNS: the records this server expects (copy each, or all as zone lines), whether each is
// published (dns_check), publication through dns.provider (a job), DKIM keys and rotation.
// Whatever the backend cannot do yet it says so, and the page shows exactly that.
import { useEffect } from 'preact/hooks';
import { call, isJobStarted } from '../client.ts';
import { jobsFinished, trackJob } from '../state.ts';
import { may } from '../rights.ts';
import { date } from '../format.ts';
import { Btn, CopyButton, Done, ErrorText, Loading, Section, useAction, useLoad } from '../ui.tsx';
import type { CheckRow, ExpectedRecord } from '../types.ts';

const key = (r: { type: string; name: string }) => `${r.type} ${r.name}`;

const STATUS: Record<CheckRow['status'], [string, string]> = {
  ok: ['success', 'published'],
  missing: ['warning', 'missing'],
  different: ['warning', 'different'],
  error: ['important', 'lookup failed'],
};

function Published({ row }: { row: CheckRow | undefined }) {
  if (!row) return <span>—</span>;
  const [cls, text] = STATUS[row.status];
  const title = [row.published.length ? `published: ${row.published.join(' | ')}` : '', ...row.problems].filter(Boolean).join('\n');
  return (
    <span class={`label ${cls}`} title={title || undefined} data-status={row.status}>
      {text}
    </span>
  );
}

function Problems({ list }: { list: string[] | undefined }) {
  if (!list?.length) return null;
  return (
    <div class="alert-message warning" role="note">
      {list.map((p) => (
        <p key={p}>{p}</p>
      ))}
    </div>
  );
}

/** A domain name that may wrap after a dot, never inside a label. */
function DnsName({ name }: { name: string }) {
  return <>{name.split(/(?<=\.)/).flatMap((label, i) => (i ? [<wbr key={i} />, label] : [label]))}</>;
}

function RecordRow({ r, row }: { r: ExpectedRecord; row: CheckRow | undefined }) {
  return (
    <tr class="tr" data-record={key(r)}>
      <td class="td ms-name" data-title="Name">
        <DnsName name={r.name} />
      </td>
      <td class="td" data-title="Type">
        {r.type}
      </td>
      <td class="td ms-value" data-title="Value">
        <code>{r.value}</code>
      </td>
      <td class="td" data-title="Published">
        <Published row={row} />
      </td>
      <td class="td cbi-section-actions">
        <div>
          <CopyButton text={r.value} what={`the ${r.type} record of ${r.name}`} />
        </div>
      </td>
    </tr>
  );
}

export function DnsScreen() {
  const records = useLoad(() => call('dns_records', { format: 'json' }));
  const check = useLoad(() => call('dns_check'));
  const dkim = useLoad(() => call('dkim_show'));
  const publish = useAction();
  const rotate = useAction();
  const startJob = (fn: () => Promise<object>) => async () => {
    const r = await fn();
    if (isJobStarted(r)) {
      trackJob(r);
      return 'Started: see the progress bar above.';
    }
    return 'Done.';
  };
  useEffect(() => void records.load(), []);
  useEffect(() => {
    void check.load();
    void dkim.load();
  }, [jobsFinished.value]);
  const expected = records.data.value;
  const report = check.data.value;
  const rows = new Map((report?.records ?? []).map((r) => [key(r), r]));
  const keys = dkim.data.value;
  return (
    <>
      <Section title="DNS records" descr="What each mail domain's zone needs for this server: MX, SPF, DMARC, DKIM, ...">
        <ErrorText error={records.error.value} block />
        <Problems list={expected?.problems} />
        {!expected && !records.error.value && <Loading />}
        {report && (
          <p class="ms-dns-summary">
            Checked just now through {report.provider === 'manual' ? 'the resolver' : report.provider}:{' '}
            {report.ok ? <span class="label success">all as expected</span> : <span class="label warning">{report.records.length - report.counts.ok} not as expected</span>}
          </p>
        )}
        {check.error.value && <ErrorText error={check.error.value} block />}
        {check.loading.value && <Loading what="Checking what is published…" />}
        {expected && (
          <table class="table cbi-section-table ms-list ms-dns">
            <tr class="tr table-titles">
              <th class="th">Name</th>
              <th class="th">Type</th>
              <th class="th">Value</th>
              <th class="th">Published</th>
              <th class="th cbi-section-actions" />
            </tr>
            {expected.records.map((r) => (
              <RecordRow key={key(r)} r={r} row={rows.get(key(r))} />
            ))}
          </table>
        )}
        <div class="ms-buttons">
          {expected && <CopyButton text={expected.zone} what="all records as zone-file lines" label="Copy all as zone lines" />}
          <Btn kind="neutral" label="Check again" busy={check.loading.value} onClick={() => void check.load()} />
          {may('dns_setup') && <Btn kind="action" label="Publish records" busy={publish.busy.value} onClick={() => void publish.run(startJob(() => call('dns_setup')))} />}
          <ErrorText error={publish.error.value} />
          <Done text={publish.done.value} />
        </div>
      </Section>
      <Section title="DKIM keys">
        <ErrorText error={dkim.error.value} block />
        {keys && (
          <>
            <p>{keys.enabled ? `Outgoing mail is signed by ${keys.signer ?? 'nobody yet'}.` : 'DKIM signing is off (features.dkim).'}</p>
            {keys.keys.length ? (
              <table class="table cbi-section-table ms-list ms-dkim">
                <tr class="tr table-titles">
                  <th class="th">Domain</th>
                  <th class="th">Selector</th>
                  <th class="th">Algorithm</th>
                  <th class="th">State</th>
                  <th class="th">Created</th>
                  <th class="th cbi-section-actions" />
                </tr>
                {keys.keys.map((k) => (
                  <tr class="tr" key={`${k.domain} ${k.selector}`} data-dkim={`${k.selector}._domainkey.${k.domain}`}>
                    <td class="td ms-name" data-title="Domain">
                      <DnsName name={k.domain} />
                    </td>
                    <td class="td" data-title="Selector">{k.selector}</td>
                    <td class="td" data-title="Algorithm">{k.algorithm}</td>
                    <td class="td" data-title="State">
                      <span class={`label ${k.state === 'active' ? 'success' : 'notice'}`}>{k.state}</span>
                      {k.removeAfter && ` until ${date(k.removeAfter)}`}
                    </td>
                    <td class="td" data-title="Created">{date(k.created)}</td>
                    <td class="td cbi-section-actions">
                      <div>
                        <CopyButton text={k.record.value} what={`the DKIM record ${k.record.name}`} />
                      </div>
                    </td>
                  </tr>
                ))}
              </table>
            ) : (
              <p class="ms-empty">No DKIM keys yet: they are made when the server starts or records are published.</p>
            )}
          </>
        )}
        {may('dkim_rotate') && (
          <div class="ms-buttons">
            <Btn kind="action" label="Rotate DKIM keys" busy={rotate.busy.value} onClick={() => void rotate.run(startJob(() => call('dkim_rotate')))} />
            <ErrorText error={rotate.error.value} />
            <Done text={rotate.done.value} />
          </div>
        )}
      </Section>
    </>
  );
}
