// The LuCI page Services → Mail Server. LuCI's view (luci-app/.../view/mailserver/main.js)
// imports this module and calls mount(el, { rpc, L }); everything after that is here.
import { render, type JSX } from 'preact';
import './app.css';
import { useRpc, type LuciL, type LuciRpc } from './client.ts';
import { findRunningJobs, openTab, READS_OVERVIEW, tab, type TabId } from './state.ts';
import { canWrite, loadRights, may, screenAllowed } from './rights.ts';
import { JobBars } from './jobs.tsx';
import { Loading, ReadOnlyNote } from './ui.tsx';
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
const TAB_ORDER = TABS.map(([id]) => id);

/** The tabs whose reads rpcd grants this session, once the rights are known. */
function App({ ready, title }: { ready: boolean; title: string }) {
  if (!ready) {
    return (
      <div class="ms-app">
        <h2>{title}</h2>
        <Loading />
      </div>
    );
  }
  const tabs = TABS.filter(([id]) => screenAllowed(id));
  const shown = tabs.find(([id]) => id === tab.value) ?? tabs[0];
  if (!shown) {
    return (
      <div class="ms-app" data-write="no">
        <h2>{title}</h2>
        <p class="alert-message warning" role="note">
          This login may not use any part of the mail server.
        </p>
      </div>
    );
  }
  const [current, , Screen] = shown;
  return (
    <div class="ms-app" data-write={canWrite.value ? 'yes' : 'no'}>
      <h2>{title}</h2>
      <ul class="cbi-tabmenu" role="tablist">
        {tabs.map(([id, label]) => (
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
      {!canWrite.value && <ReadOnlyNote />}
      <JobBars />
      <div class="ms-screen" data-screen={current} role="tabpanel">
        <Screen key={current} />
      </div>
    </div>
  );
}

/** Called by the LuCI view with LuCI's rpc class and L; the menu entry's title heads the page. */
export function mount(el: HTMLElement, { rpc, L }: { rpc: LuciRpc; L: LuciL }): void {
  useRpc(rpc);
  el.classList.add('ms-root');
  const title = L.env.nodespec?.title ?? 'Mail Server';
  render(<App ready={false} title={title} />, el);
  void loadRights().then(() => {
    // A tab this login may not open (an old link, or the default Overview): the first it may.
    const first = TAB_ORDER.find(screenAllowed);
    if (!screenAllowed(tab.value) && first) openTab(first);
    // Tabs that load the overview find running jobs in it (overview.jobs); others ask job_list once.
    if (may('job_list') && !(READS_OVERVIEW.includes(tab.value) && may('overview'))) void findRunningJobs();
    render(<App ready title={title} />, el);
  });
}
