// Addresses never banned: the router itself (loopback, the addresses the daemons listen on, the
// published public addresses) and the owner's ban.allow networks.
import { BlockList } from 'node:net';
import { isIP } from '../sys/ip.ts';
import type { Settings } from '../config/settings.ts';
import { bareAddress } from '../render/text.ts';

export function neverBanned(s: Settings): string[] {
  const own = ['127.0.0.1', '::1', ...s.main.listen.map(bareAddress), s.main.publicIp, s.main.publicIp6].filter((a): a is string => !!a);
  return [...new Set([...own, ...s.ban.allow])];
}

/** A matcher for neverBanned's list (addresses and CIDR networks, both families). */
export function neverBannedMatcher(list: string[]): (address: string) => boolean {
  const block = new BlockList();
  for (const entry of list) {
    const [address, bits] = entry.split('/');
    const family = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) block.addAddress(address!, family);
    else block.addSubnet(address!, Number(bits), family);
  }
  return (address) => {
    const family = isIP(address);
    if (family === 0) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return block.check(mapped[1]!, 'ipv4');
    return block.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}
