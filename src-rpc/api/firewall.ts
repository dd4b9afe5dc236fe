// The router's firewall (fw4): open the enabled mail ports from the WAN zone, close them, see them.
import { method } from './method.ts';
import { setupFirewall, clearFirewall, firewallStatus, FIREWALL_FILE, type OpenPort, type Reload } from '../firewall/fw4.ts';

const portText = (p: OpenPort) => `  ${p.name}: tcp ${p.port} from wan${p.destIp ? ` → ${p.destIp}:${p.port}` : ''}${p.enabled ? '' : ' (disabled in the firewall)'}`;
const reloadText = (r: Reload) => (r.error ? `\n${r.error}` : r.ran ? '\nfirewall reloaded' : '');

export const firewallMethods = [
  method({
    name: 'firewall_status',
    access: 'read',
    doc: `Mail ports our sections in ${FIREWALL_FILE} open from the WAN zone, and whether they match the settings`,
    cli: ['firewall', 'status'],
    args: {},
    handler: (_a, ctx) => firewallStatus(ctx.settings),
    text: (r) =>
      [
        r.open.length ? 'open from wan:' : 'no mail port is opened by our firewall sections',
        ...r.open.map(portText),
        ...(r.problem ? [r.problem] : r.present && !r.upToDate ? ['the sections differ from the settings: run `mailctl firewall setup`'] : []),
      ].join('\n'),
  }),
  method({
    name: 'firewall_setup',
    access: 'write',
    doc: `Open the enabled mail ports from the WAN zone (fw4 sections in ${FIREWALL_FILE}; a redirect to the container on a veth network) and reload the firewall`,
    cli: ['firewall', 'setup'],
    args: {},
    handler: (_a, ctx) => setupFirewall(ctx.settings),
    text: (r) => [r.changed ? 'firewall sections written:' : 'firewall sections already up to date:', ...r.open.map(portText)].join('\n') + reloadText(r.reload),
    failed: (r) => r.reload.error !== undefined,
  }),
  method({
    name: 'firewall_clear',
    access: 'write',
    doc: `Remove our sections from ${FIREWALL_FILE} (nothing else) and reload the firewall`,
    cli: ['firewall', 'clear'],
    args: {},
    handler: () => clearFirewall(),
    text: (r) => (r.changed ? `removed: ${r.removed.join(', ')}` : 'no mailserver sections in the firewall') + reloadText(r.reload),
    failed: (r) => r.reload.error !== undefined,
  }),
];
