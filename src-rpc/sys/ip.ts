// IP address literals, as strict as node:net's isIP (test/unit/ip.test.ts compares the two):
// IPv4 dotted quads without leading zeros; IPv6 in RFC 4291 text form, an embedded IPv4 tail and a
// zone (`%eth0`) allowed. Ours because node:net, with the streams it loads, costs a cold call that
// only validates its settings a few milliseconds.

const OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const GROUP = /^[0-9A-Fa-f]{1,4}$/;
const ZONE = /^[0-9A-Za-z.:-]+$/;

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p));
}

/** `s` as colon-separated groups (the last may be an IPv4 address, worth two): how many, or -1. */
function groupCount(s: string): number {
  if (s === '') return 0;
  const groups = s.split(':');
  const last = groups[groups.length - 1]!;
  const tail = last.includes('.') ? (isIPv4(last) ? 2 : -1) : GROUP.test(last) ? 1 : -1;
  if (tail < 0 || !groups.slice(0, -1).every((g) => GROUP.test(g))) return -1;
  return groups.length - 1 + tail;
}

export function isIPv6(s: string): boolean {
  const percent = s.indexOf('%');
  if (percent >= 0 && !ZONE.test(s.slice(percent + 1))) return false;
  const address = percent >= 0 ? s.slice(0, percent) : s;
  const halves = address.split('::');
  if (halves.length > 2) return false;
  if (halves.length === 1) return groupCount(address) === 8;
  const [head, tail] = halves.map(groupCount) as [number, number];
  // `::` stands for one group or more; an IPv4 tail only ends the address.
  return head >= 0 && tail >= 0 && head + tail <= 7 && !halves[0]!.includes('.');
}

/** 4 or 6 for an address literal of that family, else 0 (node:net's isIP). */
export function isIP(s: string): 0 | 4 | 6 {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0;
}
