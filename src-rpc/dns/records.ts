// The DNS records this server needs, per mail domain: a pure function of the settings, the
// public addresses and the DKIM keys. Also their presentation (table, zone file, JSON) and the
// address classification that keeps private addresses out of public DNS.
import { isIP } from '../sys/ip.ts';
import { mailDomains, mailHost, type Settings } from '../config/settings.ts';
import type { DnsRecord, RecordType } from './provider.ts';

export type RecordKind = 'a' | 'aaaa' | 'mx' | 'spf' | 'dmarc' | 'dmarc-report' | 'dkim' | 'tlsrpt' | 'srv' | 'autoconfig';

export interface ExpectedRecord extends DnsRecord {
  kind: RecordKind;
  /** The mail domain the record belongs to (host records: the primary domain). */
  domain: string;
  /** The zone it is published in; null when no configured zone contains the name. */
  zone: string | null;
  /**
   * Which published records at (name, type) are ours: `rrset` the whole set (a name only mail
   * uses); `spf` only the TXT records starting with v=spf1 (the apex TXT is shared).
   */
  owns: 'rrset' | 'spf';
  /** DKIM records: the key behind it. */
  dkim?: { selector: string; algorithm: 'rsa' | 'ed25519'; state: DkimKeyState };
}

export type DkimKeyState = 'active' | 'pending' | 'retiring';

export interface DkimKeyView {
  domain: string;
  selector: string;
  algorithm: 'rsa' | 'ed25519';
  publicKey: string;
  state: DkimKeyState;
}

export interface PublicAddresses {
  ip4: string | null;
  ip6: string | null;
  /** Why an address is missing or unusable (never published silently). */
  problems: string[];
}

// ---- addresses ----

const v4 = (a: string) => a.split('.').map(Number) as [number, number, number, number];

/** Why an address cannot be the public address of a mail server, or null when it can. */
export function addressProblem(address: string): string | null {
  if (isIP(address) === 4) {
    const [a, b] = v4(address);
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'a private address (RFC 1918)';
    if (a === 100 && b >= 64 && b <= 127) return 'a carrier-grade NAT address (100.64.0.0/10): the provider shares the public address, port 25 cannot reach this router';
    if (a === 127) return 'a loopback address';
    if (a === 169 && b === 254) return 'a link-local address';
    if (a === 0 || a >= 224) return 'not a unicast address';
    return null;
  }
  const s = address.toLowerCase();
  if (s === '::1') return 'a loopback address';
  if (s === '::') return 'not a unicast address';
  const mapped = /^::ffff:([0-9.]+)$/.exec(s);
  if (mapped) return addressProblem(mapped[1]!);
  const first = parseInt(s.split(':')[0] || '0', 16);
  if ((first & 0xfe00) === 0xfc00) return 'a unique local address (fc00::/7)';
  if ((first & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((first & 0xff00) === 0xff00) return 'a multicast address';
  return null;
}

// ---- zones ----

/** The configured zone that holds `name` (longest suffix match), or null. */
export function zoneOf(s: Settings, name: string): string | null {
  const zones = s.dns.zones.length ? s.dns.zones : mailDomains(s);
  let best: string | null = null;
  for (const z of zones) {
    if ((name === z || name.endsWith(`.${z}`)) && (best === null || z.length > best.length)) best = z;
  }
  return best;
}

/** Owner name relative to its zone, `@` for the apex (dnsctl's form). */
export function relativeName(name: string, zone: string): string {
  return name === zone ? '@' : name.slice(0, -(zone.length + 1));
}

// ---- records ----

export function dmarcReportAddress(s: Settings, domain: string): string {
  return s.dns.dmarcRua ?? `postmaster@${domain}`;
}

export function dkimRecordValue(algorithm: 'rsa' | 'ed25519', publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

export function expectedRecords(s: Settings, addresses: PublicAddresses, keys: DkimKeyView[]): ExpectedRecord[] {
  const host = mailHost(s);
  const primary = s.main.domain;
  const domains = mailDomains(s);
  const ttl = s.dns.ttl;
  const out: ExpectedRecord[] = [];
  const add = (domain: string, kind: RecordKind, name: string, type: RecordType, value: string, extra: Partial<ExpectedRecord> = {}) =>
    out.push({ kind, domain, name, type, value, ttl, zone: zoneOf(s, name), owns: 'rrset', ...extra });

  if (addresses.ip4) add(primary, 'a', host, 'A', addresses.ip4);
  if (addresses.ip6) add(primary, 'aaaa', host, 'AAAA', addresses.ip6);
  for (const d of domains) {
    add(d, 'mx', d, 'MX', `10 ${host}.`);
    if (s.features.spf) add(d, 'spf', d, 'TXT', `v=spf1 mx a:${host} ${s.dns.spfPolicy}`, { owns: 'spf' });
    const rua = dmarcReportAddress(s, d);
    if (s.features.dmarc) {
      add(d, 'dmarc', `_dmarc.${d}`, 'TXT', `v=DMARC1; p=${s.dns.dmarcPolicy}; rua=mailto:${rua}`);
      // RFC 7489 7.1: reports for d sent to another of our domains need that domain's consent.
      const ruaDomain = rua.slice(rua.lastIndexOf('@') + 1);
      if (ruaDomain !== d && domains.includes(ruaDomain)) add(d, 'dmarc-report', `${d}._report._dmarc.${ruaDomain}`, 'TXT', 'v=DMARC1');
    }
    if (s.features.dkim) {
      for (const k of keys.filter((k) => k.domain === d)) {
        add(d, 'dkim', `${k.selector}._domainkey.${d}`, 'TXT', dkimRecordValue(k.algorithm, k.publicKey), {
          dkim: { selector: k.selector, algorithm: k.algorithm, state: k.state },
        });
      }
    }
    add(d, 'tlsrpt', `_smtp._tls.${d}`, 'TXT', `v=TLSRPTv1; rua=mailto:${rua}`);
    // RFC 6186 (with RFC 8314's preference for implicit TLS where both exist).
    if (s.ports.submission) add(d, 'srv', `_submission._tcp.${d}`, 'SRV', `0 1 ${s.ports.submission} ${host}.`);
    if (s.ports.imaps) add(d, 'srv', `_imaps._tcp.${d}`, 'SRV', `0 1 ${s.ports.imaps} ${host}.`);
    if (s.ports.pop3s) add(d, 'srv', `_pop3s._tcp.${d}`, 'SRV', `10 1 ${s.ports.pop3s} ${host}.`);
    // Client autoconfig: the documents the router's web server serves on the mail host's name
    // (Thunderbird asks autoconfig.<domain>, Outlook autodiscover.<domain> and the SRV record).
    if (s.autoconfig.enabled) {
      add(d, 'autoconfig', `autoconfig.${d}`, 'CNAME', `${host}.`);
      add(d, 'autoconfig', `autodiscover.${d}`, 'CNAME', `${host}.`);
      add(d, 'autoconfig', `_autodiscover._tcp.${d}`, 'SRV', `0 1 443 ${host}.`);
    }
  }
  return out;
}

// ---- presentation ----

/** TXT character-strings of at most 255 bytes each (RFC 1035 3.3.14). */
export function txtStrings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) return [''];
  const out: string[] = [];
  for (let i = 0; i < bytes.length; ) {
    let end = Math.min(i + 255, bytes.length);
    // never cut a UTF-8 sequence in two
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
    out.push(bytes.subarray(i, end).toString('utf8'));
    i = end;
  }
  return out;
}

const quote = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The RDATA in zone-file (and nsupdate) syntax. */
export function rdata(r: Pick<DnsRecord, 'type' | 'value'>): string {
  return r.type === 'TXT' ? txtStrings(r.value).map(quote).join(' ') : r.value;
}

export function zoneLine(r: DnsRecord): string {
  return `${r.name}. ${r.ttl} IN ${r.type} ${rdata(r)}`;
}

export function formatZone(records: DnsRecord[]): string {
  return records.map(zoneLine).join('\n');
}

export function formatTable(records: ExpectedRecord[]): string {
  const rows = records.map((r) => [r.type, r.name, r.value]);
  const w0 = Math.max(4, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(4, ...rows.map((r) => r[1]!.length));
  return [['TYPE', 'NAME', 'VALUE'], ...rows].map(([t, n, v]) => `${t!.padEnd(w0)}  ${n!.padEnd(w1)}  ${v}`).join('\n');
}
