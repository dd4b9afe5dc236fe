// Publishing DNS records: one interface for every provider (dnsctl, nsupdate, manual), used by
// dns-setup and by the ACME DNS-01 challenge. A provider's own exit code proves nothing: every
// write is confirmed by a DNS query (see lookup.ts) before it counts as done.

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'SRV' | 'CNAME';

export interface DnsRecord {
  /** Fully qualified owner name, lower case, no trailing dot: "_dmarc.example.com". */
  name: string;
  type: RecordType;
  /**
   * Presentation value without quoting: A "192.0.2.1"; MX "10 mail.example.com.";
   * SRV "0 1 587 mail.example.com."; TXT the raw text (any length; providers split it
   * into ≤255-byte strings).
   */
  value: string;
  ttl: number;
}

export interface DnsProvider {
  readonly kind: 'manual' | 'dnsctl' | 'nsupdate';
  /**
   * Make `record` present. When `replaces` is given (what we published before at the same
   * name and type), exactly that old record is removed; other records at the name (another
   * TXT at the apex) are never touched.
   */
  upsert(record: DnsRecord, replaces?: DnsRecord): Promise<void>;
  /** Remove exactly this record (no-op when absent). */
  remove(record: DnsRecord): Promise<void>;
}
