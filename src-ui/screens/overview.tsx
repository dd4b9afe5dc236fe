// Overview: everything from one `overview` call, DNS health included (the summary of tick's last
// check); "Check DNS" runs one now and shows its summary.
import { useEffect } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { call, isJobStarted } from '../client.ts';
import { may, screenAllowed } from '../rights.ts';
import { jobs, loadOverview, openTab, overview, overviewError, overviewLoading, trackJob } from '../state.ts';
import { bytes, count, date } from '../format.ts';
import { Btn, Confirm, Done, ErrorText, KeyValues, Loading, Section, useAction } from '../ui.tsx';
import { VirusScan } from './virus-scan.tsx';
import type { Ban, CertificateSummary, Container, DnsHealth as Health, FirewallStatus, Overview, Status } from '../types.ts';

export function CertificateDays({ c }: { c: CertificateSummary }) {
  const cls = c.daysLeft < 0 ? 'important ms-bad' : c.daysLeft <= 14 ? 'warning' : 'success';
  return <span class={`label ${cls}`}>{c.daysLeft < 0 ? `expired ${-c.daysLeft} days ago` : count(c.daysLeft, 'day') + ' left'}</span>;
}

function ServiceControls({ s }: { s: Status }) {
  const act = useAction();
  const which = useSignal('');
  const confirmStop = useSignal(false);
  const run = (name: string, fn: () => Promise<Status>, done: string) => {
    which.value = name;
    confirmStop.value = false;
    return act.run(async () => {
      const st = await fn();
      if (overview.value) overview.value = { ...overview.value, service: st };
      return done;
    });
  };
  const install = () => {
    which.value = 'install';
    return act.run(async () => {
      const r = await call('install');
      if (isJobStarted(r)) trackJob(r);
      return 'Install started: see the progress bar above.';
    });
  };
  const busy = (name: string) => act.busy.value && which.value === name;
  const installing = jobs.value.some((j) => j.kind === 'install' && j.state === 'running');
  return (
    <>
      {!s.running && may('start') && <Btn kind="positive" label="Start" busy={busy('start')} disabled={act.busy.value} onClick={() => run('start', () => call('start'), 'Started.')} />}
      {s.running && may('stop') && <Btn kind="negative" label="Stop" busy={busy('stop')} disabled={act.busy.value} onClick={() => (confirmStop.value = true)} />}
      {may('restart') && <Btn kind="action" label="Restart" busy={busy('restart')} disabled={act.busy.value} onClick={() => run('restart', () => call('restart'), 'Restarted.')} />}
      {may('install') && (
      <Btn
        kind="action"
        label="Install / repair"
        busy={busy('install')}
        disabled={installing || act.busy.value}
        title={installing ? 'An install is running: see its progress above' : s.runtime === 'lxc' ? 'Create or repair the container' : 'Check the daemons and prepare data, certificate and configuration'}
        onClick={install}
      />
      )}
      <ErrorText error={act.error.value} />
      <Done text={act.done.value} />
      {confirmStop.value && (
        <Confirm
          question="Stop Postfix and Dovecot? Nobody can read or send mail until you start them again; other servers keep mail for you meanwhile."
          confirmLabel="Stop the mail server"
          onConfirm={() => void run('stop', () => call('stop'), 'Stopped.')}
          onCancel={() => (confirmStop.value = false)}
        />
      )}
    </>
  );
}

const DNS_STATE: Record<Health['problems'][number]['state'], string> = { missing: 'missing', different: 'different', error: 'no answer' };

function DnsHealth({ h }: { h: Health | null }) {
  const act = useAction();
  // dns_check is a read and stores nothing: its summary replaces tick's on the page.
  const check = () =>
    act.run(async () => {
      const { health } = await call('dns_check');
      if (overview.value) overview.value = { ...overview.value, dns: health };
    });
  const bad = h ? h.problems.length : 0;
  return (
    <Section title="DNS health">
      <div class="ms-buttons">
        {h ? (
          <>
            <span class={`label ${h.ok ? 'success' : 'warning'}`} data-dns={h.ok ? 'ok' : 'bad'} data-checked={h.checkedAt}>
              {h.ok ? `all ${count(h.records, 'record')} ok` : bad ? `${count(bad, 'record')} of ${h.records} not as expected` : 'needs attention'}
            </span>
            <span class="ms-empty">checked {date(h.checkedAt)}</span>
          </>
        ) : (
          !act.error.value && <span>Not checked yet.</span>
        )}
        {may('dns_check') && <Btn kind="action" label="Check DNS" busy={act.busy.value} onClick={check} />}
        {h && !h.ok && screenAllowed('dns') && (
          <a href="#dns" onClick={(e) => (e.preventDefault(), openTab('dns'))}>
            Details on the DNS tab
          </a>
        )}
        <ErrorText error={act.error.value} />
      </div>
      {h && !h.ok && (
        <ul class="ms-dns-problems">
          {h.problems.map((p) => (
            <li key={`${p.type} ${p.name}`} data-problem={`${p.type} ${p.name}`}>
              <span class="label warning">{DNS_STATE[p.state]}</span> {p.type} {p.name}
            </li>
          ))}
          {h.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </Section>
  );
}

const containerRows = (c: Container): [string, string][] => [
  ['Container', `${c.name}: ${c.state}`],
  ['Address', c.address ?? 'none'],
  ['Memory', c.memoryBytes === null ? 'unknown' : bytes(c.memoryBytes)],
  ['Distribution', c.distribution ?? 'unknown'],
];

/** What our fw4 sections open from the WAN zone; open or close the mail ports there. */
function Firewall({ f }: { f: FirewallStatus }) {
  const act = useAction();
  const run = (method: 'firewall_setup' | 'firewall_clear', done: string) =>
    act.run(async () => {
      await call(method);
      const firewall = await call('firewall_status');
      if (overview.value) overview.value = { ...overview.value, firewall };
      return done;
    });
  const warning = f.problem ?? (f.open.length > 0 && !f.upToDate ? 'The ports differ from the settings: open them again.' : null);
  return (
    <Section title="Firewall" descr="Mail ports opened from the internet (the wan zone) by sections of ours in /etc/config/firewall.">
      <p data-firewall={f.open.length} data-uptodate={String(f.upToDate)}>
        {f.open.length ? f.open.map((p) => `${p.name.replace('mailserver-', '')} ${p.port}${p.destIp ? ` → ${p.destIp}` : ''}${p.enabled ? '' : ' (disabled)'}`).join(', ') : 'No mail port is opened.'}
      </p>
      {warning && <p class="alert-message warning">{warning}</p>}
      {f.present && (
        <div class="ms-buttons">
          {may('firewall_setup') && <Btn kind="positive" label="Open mail ports" busy={act.busy.value} onClick={() => run('firewall_setup', 'Opened.')} />}
          {f.open.length > 0 && may('firewall_clear') && <Btn kind="negative" label="Close mail ports" busy={act.busy.value} onClick={() => run('firewall_clear', 'Closed.')} />}
          <ErrorText error={act.error.value} />
          <Done text={act.done.value} />
        </div>
      )}
    </Section>
  );
}

function BanRow({ b }: { b: Ban }) {
  const act = useAction();
  // Lifted: the overview is read again, so the list and the count agree with the kernel's.
  const unban = () =>
    act.run(async () => {
      await call('ban_del', { address: b.address });
      await loadOverview();
    });
  return (
    <tr class="tr" data-ban={b.address}>
      <td class="td ms-addr" data-title="Address">{b.address}</td>
      <td class="td" data-title="Lifted in">{b.expiresIn >= 3600 ? `${Math.round(b.expiresIn / 360) / 10} h` : b.expiresIn >= 60 ? `${Math.round(b.expiresIn / 60)} min` : `${b.expiresIn} s`}</td>
      <td class="td cbi-section-actions">
        {may('ban_del') && <Btn kind="negative" label="Unban" title={`Let ${b.address} connect again`} busy={act.busy.value} onClick={unban} />}
        <ErrorText error={act.error.value} />
      </td>
    </tr>
  );
}

function Bans({ summary, bans }: { summary: NonNullable<Status['bans']>; bans: Ban[] }) {
  return (
    <Section title="Banned addresses" descr="Addresses that failed to log in too often (features.fail2ban); their bans end by themselves.">
      {summary.error && <p class="alert-message warning">{summary.error}</p>}
      {!summary.watching && <p class="alert-message warning">The ban watcher is not running: failed logins are not counted until the server is started again.</p>}
      {bans.length === 0 ? (
        <p class="ms-empty" data-bans="0">No address is banned.</p>
      ) : (
        <table class="table cbi-section-table ms-list" data-bans={summary.count}>
          <tr class="tr table-titles">
            <th class="th">Address</th>
            <th class="th">Lifted in</th>
            <th class="th cbi-section-actions" />
          </tr>
          {bans.map((b) => (
            <BanRow key={b.address} b={b} />
          ))}
        </table>
      )}
      {summary.count > bans.length && <p class="ms-empty">{`and ${summary.count - bans.length} more: mailctl ban list`}</p>}
    </Section>
  );
}

/** The last restore drill: restoring is what a backup is for. */
function MeshVerified({ v }: { v: NonNullable<Overview['meshVerify']> }) {
  const failed = v.peers.filter((p) => !p.ok);
  return (
    <span class={`label ${v.ok ? 'success' : 'warning'}`} data-mesh-verify={v.ok ? 'ok' : 'failed'}>
      {`last verified restore: ${date(v.at)}, ${v.ok ? 'OK' : failed.map((p) => `${p.peer}: ${p.error ?? 'failed'}`).join('; ')}`}
    </span>
  );
}

export function OverviewScreen() {
  useEffect(() => void loadOverview(), []);
  const o = overview.value;
  if (!o) return overviewError.value ? <ErrorText error={overviewError.value} block /> : <Loading />;
  const s = o.service;
  const disk = o.disk;
  const used = disk ? disk.totalBytes - disk.freeBytes : 0;
  const pct = disk && disk.totalBytes ? Math.round((used / disk.totalBytes) * 100) : 0;
  const running = jobs.value.filter((j) => j.state === 'running').length;
  return (
    <>
      <Section title={`Mail server ${o.host}`}>
        {s.held && <p class="alert-message warning" data-held>Mail is held (refused for now; senders retry): {s.held}</p>}
        <KeyValues
          rows={[
            ['State', <span class={`label ${s.running ? 'success' : 'warning'}`} data-state={s.running ? 'running' : 'stopped'}>{s.running ? 'running' : 'stopped'}</span>],
            ['Daemons', s.services.map((d) => `${d.name} ${d.running ? `running (pid ${d.pid})` : d.problem ? `stopped (${d.problem})` : 'stopped'}`).join(', ')],
            ...(s.restarts.length ? [['Restarts', s.restarts.map((r) => r.text).join('; ')] as [string, string]] : []),
            ['Runtime', `${s.runtime}${s.enabled ? '' : ' (not started at boot)'}`],
            ...(s.container ? containerRows(s.container) : []),
            ['Jobs', running ? `${count(running, 'job')} running (progress above)` : 'none running'],
            ...(o.meshVerify ? [['Backups', <MeshVerified v={o.meshVerify} />] as [string, preact.JSX.Element]] : []),
          ]}
        />
        <div class="ms-buttons">
          <ServiceControls s={s} />
          <Btn kind="neutral" label="Refresh" busy={overviewLoading.value} onClick={() => void loadOverview()} />
          <ErrorText error={overviewError.value} />
        </div>
      </Section>
      <Section title="Ports">
        {s.ports.length ? (
          <table class="table cbi-section-table ms-ports">
            <tr class="tr table-titles">
              <th class="th">Service</th>
              <th class="th">Port</th>
              <th class="th">State</th>
            </tr>
            {s.ports.map((p) => (
              <tr class="tr" key={p.name} data-port={p.name}>
                <td class="td" data-title="Service">{p.name}</td>
                <td class="td" data-title="Port">{p.port}</td>
                <td class="td" data-title="State">
                  <span class={`label ${p.open ? 'success' : 'warning'}`}>{p.open ? 'open' : 'closed'}</span>
                </td>
              </tr>
            ))}
          </table>
        ) : (
          <p>Ports are checked while the server runs.</p>
        )}
      </Section>
      <Firewall f={o.firewall} />
      <Section title="Mail">
        <KeyValues
          rows={[
            ['Mailboxes', <a href="#mailboxes" onClick={(e) => (e.preventDefault(), openTab('mailboxes'))}>{o.counts.mailboxes.toLocaleString('en-US')}</a>],
            ['Aliases', <a href="#aliases" onClick={(e) => (e.preventDefault(), openTab('aliases'))}>{o.counts.aliases.toLocaleString('en-US')}</a>],
            ['Domains', <a href="#domains" onClick={(e) => (e.preventDefault(), openTab('domains'))}>{o.counts.domains}</a>],
            ['Queue', o.queue ? count(o.queue, 'message') + ' waiting' : 'empty'],
            [
              'Disk',
              disk ? (
                <>
                  {`${bytes(used)} of ${bytes(disk.totalBytes)} used (${pct}%), ${bytes(disk.freeBytes)} free`}
                  <div class="cbi-progressbar ms-disk" role="meter" aria-label="disk use" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100}>
                    <div style={{ width: `${pct}%` }} />
                  </div>
                </>
              ) : (
                'unknown'
              ),
            ],
          ]}
        />
      </Section>
      <Section title="Certificate">
        {o.certificate ? (
          <KeyValues
            rows={[
              ['Valid for', o.certificate.names.join(', ') || o.certificate.subject],
              ['Expires', <CertificateDays c={o.certificate} />],
              ['Issuer', o.certificate.selfSigned ? 'self-signed (mail clients will warn; see the TLS tab)' : o.certificate.issuer],
            ]}
          />
        ) : (
          <p>No certificate yet: one is made when the server first starts.</p>
        )}
      </Section>
      <DnsHealth h={o.dns} />
      <VirusScan v={s.virus} notices={s.notices} />
      {s.bans && <Bans summary={s.bans} bans={o.bans} />}
    </>
  );
}
