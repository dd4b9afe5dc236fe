// The address the world reaches the mail host at: main.public_ip / public_ip6, or on a router
// the WAN interfaces (`ubus call network.interface.wan status`). A private or CGNAT address is
// a problem to report, never something to publish.
import { run } from '../sys/spawn.ts';
import { addressProblem, type PublicAddresses } from './records.ts';
import type { Settings } from '../config/settings.ts';

function wanAddress(iface: 'wan' | 'wan6', family: 'ipv4-address' | 'ipv6-address'): { address: string | null; ubus: boolean } {
  const r = run(['ubus', 'call', `network.interface.${iface}`, 'status'], { timeoutMs: 5000 });
  if (r.code === 127) return { address: null, ubus: false };
  if (r.code !== 0) return { address: null, ubus: true };
  try {
    const status = JSON.parse(r.stdout) as Record<string, { address?: string }[] | undefined>;
    return { address: status[family]?.find((a) => typeof a.address === 'string')?.address ?? null, ubus: true };
  } catch {
    return { address: null, ubus: true };
  }
}

export function publicAddresses(s: Settings): PublicAddresses {
  const problems: string[] = [];
  let ip4 = s.main.publicIp;
  let source4 = 'main.public_ip';
  if (!ip4) {
    const wan = wanAddress('wan', 'ipv4-address');
    if (!wan.ubus) problems.push('main.public_ip is not set and there is no ubus here to ask the WAN interface: set it with `uci set mailserver.main.public_ip=ADDRESS`');
    else if (!wan.address) problems.push('the WAN interface has no IPv4 address (ubus network.interface.wan): set main.public_ip');
    ip4 = wan.address;
    source4 = 'the WAN interface address';
  }
  let ip6 = s.main.publicIp6;
  let source6 = 'main.public_ip6';
  if (!ip6 && !s.main.publicIp) {
    ip6 = wanAddress('wan6', 'ipv6-address').address;
    source6 = 'the WAN6 interface address';
  }
  const usable = (ip: string | null, source: string): string | null => {
    if (!ip) return null;
    const why = addressProblem(ip);
    if (!why) return ip;
    problems.push(`${source} ${ip} is ${why}: mail from the internet cannot reach it, so it is not published; set the public address in ${source.startsWith('main.') ? source : 'main.public_ip'}`);
    return null;
  };
  return { ip4: usable(ip4, source4), ip6: usable(ip6, source6), problems };
}
