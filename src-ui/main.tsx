// The LuCI page Services → Mail Server. LuCI's view (luci-app/.../view/mailserver/main.js)
// imports this module and calls mount(el, { rpc, L }); everything after that is here.
import { render, type JSX } from 'preact';
import './app.css';
import { detectWrite, useRpc, type LuciL, type LuciRpc } from './client.ts';
import { canWrite, findRunningJobs, openTab, READS_OVERVIEW, tab, type TabId } from './state.ts';
import { JobBars } from './jobs.tsx';
import { ReadOnlyNote } from './ui.tsx';
import { OverviewScreen } from './screens/overview.tsx';
import { MailboxesScreen } from './screens/mailboxes.tsx';
import { AliasesScreen } from './screens/aliases.tsx';
import { DomainsScreen } from './screens/domains.tsx';
import { DnsScreen } from './screens/dns.tsx';
import { TlsScreen } from './screens/tls.tsx';
import { MeshScreen } from './screens/mesh.tsx';
import { WebmailScreen } from './screens/webmail.tsx';
import { LogsScreen } from './screens/logs.tsx';

const TABS: [TabId, string, () => JSX.Element][] = [
  ['overview', 'Overview', OverviewScreen],
  ['mailboxes', 'Mailboxes', MailboxesScreen],
  ['aliases', 'Aliases', AliasesScreen],
  ['domains', 'Domains', DomainsScreen],
  ['dns', 'DNS', DnsScreen],
  ['tls', 'TLS', TlsScreen],
  ['mesh', 'Backup & mesh', MeshScreen],
  ['webmail', 'Webmail', WebmailScreen],
  ['logs', 'Logs', LogsScreen],
];

function App({ ready }: { ready: boolean }) {
  const current = tab.value;
  const Screen = TABS.find(([id]) => id === current)![2];
  return (
    <div class="ms-app" data-write={canWrite.value ? 'yes' : 'no'}>
      <h2>Mail Server</h2>
      <ul class="cbi-tabmenu" role="tablist">
        {TABS.map(([id, label]) => (
          <li key={id} class={id === current ? 'cbi-tab' : 'cbi-tab-disabled'} role="presentation">
            <a
              href={`#${id}`}
              role="tab"
              data-tab={id}
              aria-selected={id === current}
              onClick={(e) => {
                e.preventDefault();
                openTab(id);
              }}
            >
              {label}
            </a>
          </li>
        ))}
      </ul>
      {!canWrite.value && ready && <ReadOnlyNote />}
      <JobBars />
      <div class="ms-screen" data-screen={current} role="tabpanel">
        {ready && <Screen key={current} />}
      </div>
    </div>
  );
}

/** Called by the LuCI view with LuCI's rpc class and L. */
export function mount(el: HTMLElement, { rpc, L }: { rpc: LuciRpc; L: LuciL }): void {
  useRpc(rpc);
  el.classList.add('ms-root');
  render(<App ready={false} />, el);
  void detectWrite(L).then((write) => {
    canWrite.value = write;
    // Tabs that load the overview find running jobs in it (overview.jobs); others ask job_list once.
    if (!READS_OVERVIEW.includes(tab.value)) void findRunningJobs();
    render(<App ready />, el);
  });
}
