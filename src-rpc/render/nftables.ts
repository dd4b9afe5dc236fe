// Our own nftables table for brute-force bans: `table inet mailserver`, two sets of banned
// addresses with per-element timeouts (the kernel expires bans; nothing of ours has to run),
// two sets of addresses never banned, and an input chain that refuses the mail ports to a
// banned address (daemons on the router: the host runtime, a container sharing its network).
// A veth container is reached through the router's forward path (fw4's redirect DNATs the mail
// ports to its address): then the forward chain refuses them too. The same text serves `nft -f` at start and fw4's include on OpenWrt
// (/usr/share/nftables.d/ruleset-post/): fw4 flushes only its own table, and declaring a table
// or set that exists keeps its elements, so bans survive a firewall reload.
import { isIPv6 } from '../sys/ip.ts';

export const BAN_TABLE = 'mailserver';
export const BANNED_SETS = { 4: 'banned4', 6: 'banned6' } as const;

/** Ahead of fw4's filter chains (priority filter = 0): a banned client never reaches them. */
const PRIORITY = 'filter - 10';

/** forwarded: the daemons are behind the router's forward path (a veth container). */
export function renderBanRuleset(ports: number[], neverBanned: string[], forwarded = false): string {
  const t = `inet ${BAN_TABLE}`;
  const portSet = `{ ${[...new Set(ports)].sort((a, b) => a - b).join(', ')} }`;
  const allowed = { 4: neverBanned.filter((a) => !isIPv6(a.split('/')[0]!)), 6: neverBanned.filter((a) => isIPv6(a.split('/')[0]!)) };
  const lines = [
    `table ${t} {`,
    `\tset ${BANNED_SETS[4]} { type ipv4_addr; flags timeout; }`,
    `\tset ${BANNED_SETS[6]} { type ipv6_addr; flags timeout; }`,
    '\tset allowed4 { type ipv4_addr; flags interval; auto-merge; }',
    '\tset allowed6 { type ipv6_addr; flags interval; auto-merge; }',
    `\tchain input { type filter hook input priority ${PRIORITY}; policy accept; }`,
    // Declared always, so a switch from veth to host empties it.
    `\tchain forward { type filter hook forward priority ${PRIORITY}; policy accept; }`,
    '}',
    `flush chain ${t} input`,
    `flush chain ${t} forward`,
    `flush set ${t} allowed4`,
    `flush set ${t} allowed6`,
  ];
  if (allowed[4].length) lines.push(`add element ${t} allowed4 { ${allowed[4].join(', ')} }`);
  if (allowed[6].length) lines.push(`add element ${t} allowed6 { ${allowed[6].join(', ')} }`);
  for (const chain of forwarded ? ['input', 'forward'] : ['input']) {
    if (!ports.length) break;
    lines.push(
      `add rule ${t} ${chain} ip saddr @allowed4 return`,
      `add rule ${t} ${chain} ip6 saddr @allowed6 return`,
      // A reset, not a silent drop: a mail client tells its user at once instead of hanging,
      // and established connections of a banned address end with the ban.
      `add rule ${t} ${chain} ip saddr @${BANNED_SETS[4]} tcp dport ${portSet} reject with tcp reset`,
      `add rule ${t} ${chain} ip6 saddr @${BANNED_SETS[6]} tcp dport ${portSet} reject with tcp reset`,
    );
  }
  return `${lines.join('\n')}\n`;
}
