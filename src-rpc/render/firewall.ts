// The fw4 sections that open the mail ports from the WAN zone (pure: sections from settings).
// Options follow firewall4's rule and redirect contract (openwrt/firewall4 fw4.uc): a `rule`
// accepts traffic for the router itself; a `redirect` with target DNAT rewrites it to the
// container, and fw4 finds the destination zone from dest_ip's subnet when `dest` is absent.
import { MailError } from '../core/errors.ts';
import type { UciSection } from '../config/uci.ts';
import type { PortName, Settings } from '../config/settings.ts';

/** Our sections are named `mailserver_<service>` (and `option name 'mailserver-<service>'`). */
export const SECTION_PREFIX = 'mailserver_';

export interface Opening {
  service: PortName;
  port: number;
  /** null: accepted by the router itself; else DNAT to this container address. */
  destIp: string | null;
}

/** One opening per enabled port (a port 0 is a listener that is off). */
export function wantedOpenings(s: Settings): Opening[] {
  const destIp = containerTarget(s);
  return (Object.entries(s.ports) as [PortName, number][]).filter(([, port]) => port !== 0).map(([service, port]) => ({ service, port, destIp }));
}

/** Where WAN traffic must go: the router (host runtime, or a container sharing its network) or the container's address. */
function containerTarget(s: Settings): string | null {
  if (s.main.runtime === 'host' || s.lxc.network === 'host') return null;
  if (s.lxc.address === null) {
    throw new MailError('conflict', 'the container takes its address by DHCP (lxc.address dhcp): a port forward needs a fixed one; set lxc.address to an IPv4 address with its prefix (or a DHCP reservation and that address)', 'lxc.address');
  }
  return s.lxc.address.split('/')[0]!;
}

export function openingSection(o: Opening): UciSection {
  const options = new Map<string, string>([['name', `mailserver-${o.service}`], ['src', 'wan'], ['proto', 'tcp']]);
  if (o.destIp === null) {
    options.set('dest_port', String(o.port));
    options.set('target', 'ACCEPT');
  } else {
    options.set('src_dport', String(o.port));
    options.set('dest_ip', o.destIp);
    options.set('dest_port', String(o.port));
    options.set('target', 'DNAT');
    // No NAT for IPv6: a DNAT redirect is IPv4 only.
    options.set('family', 'ipv4');
  }
  return { type: o.destIp === null ? 'rule' : 'redirect', name: `${SECTION_PREFIX}${o.service}`, options };
}
