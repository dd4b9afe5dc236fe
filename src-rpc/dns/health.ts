// The last DNS check in a few lines, kept in data_path/state/dns-check.json so the Overview can
// show DNS health within its one call. Written by tick's periodic drift check (a write, under the
// lock); dns_check, a read, returns the same summary without storing it. It is state, not
// configuration: losing it only means "not checked yet".
import { join } from 'node:path';
import { ensureDir, readText, writeAtomic } from '../sys/fs.ts';
import type { CheckReport, RecordStatus } from './check.ts';
import type { Layout } from '../core/layout.ts';

export interface DnsHealth {
  checkedAt: string;
  ok: boolean;
  /** How many records were checked. */
  records: number;
  /** The records that are not as expected. */
  problems: { name: string; type: string; state: Exclude<RecordStatus, 'ok'> }[];
  /** Problems that are not one record's (no usable public address, no DKIM key yet). */
  notes: string[];
}

const healthFile = (l: Layout) => join(l.stateDir, 'dns-check.json');

export function dnsHealth(r: CheckReport, now = new Date()): DnsHealth {
  return {
    checkedAt: now.toISOString(),
    ok: r.ok,
    records: r.records.length,
    problems: r.records.flatMap((row) => (row.status === 'ok' ? [] : [{ name: row.name, type: row.type, state: row.status }])),
    notes: r.problems,
  };
}

/** Store the summary of a check that just ran (atomically: a reader sees the old or the new). */
export function recordDnsHealth(l: Layout, r: CheckReport): DnsHealth {
  const health = dnsHealth(r);
  ensureDir(l.stateDir, { mode: 0o755 });
  writeAtomic(healthFile(l), `${JSON.stringify(health)}\n`, { mode: 0o644 });
  return health;
}

/** The last check's summary; null when none ran yet (or its file is unreadable). */
export function loadDnsHealth(l: Layout): DnsHealth | null {
  const text = readText(healthFile(l));
  try {
    return text ? (JSON.parse(text) as DnsHealth) : null;
  } catch {
    return null;
  }
}
