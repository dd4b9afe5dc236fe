// dns-setup: make the DNS publish every expected record, through dns.provider. Idempotent: a
// record already right is left alone; a record of ours with an old value (a changed address,
// key or policy) is replaced naming the exact old value; at the shared apex TXT only the SPF
// record is ever touched. Stops at the first failure with what was done so far: running it
// again continues from there without duplicates.
import { MailError } from '../core/errors.ts';
import { loadDkimKeys } from '../dkim/keys.ts';
import { expectedRecords, zoneLine, type ExpectedRecord } from './records.ts';
import { isSpf } from './syntax.ts';
import { matches, checkDns, type CheckRow } from './check.ts';
import { publicAddresses } from './addresses.ts';
import { providerFor } from './providers.ts';
import { Lookup } from './lookup.ts';
import type { Settings } from '../config/settings.ts';
import type { Layout } from '../core/layout.ts';

export interface Change {
  action: 'added' | 'replaced' | 'removed';
  type: string;
  name: string;
  value: string;
  old?: string;
}

export interface SetupResult {
  provider: string;
  records: number;
  changes: Change[];
  unchanged: number;
  /** Records outside the zones we publish into (dns.zone): to create by hand. */
  byHand: string[];
  /** manual provider: what is missing or different, to create by hand. */
  toCreate?: CheckRow[];
  seconds: number;
}

export async function dnsSetup(s: Settings, l: Layout, progress: (percent: number, phase: string) => void): Promise<SetupResult> {
  const started = Date.now();
  const addresses = publicAddresses(s);
  if (addresses.problems.length) throw new MailError('invalid_argument', `nothing published: ${addresses.problems.join('; ')}`, 'main.public_ip');
  const lookup = new Lookup(s);
  if (s.dns.provider === 'manual') {
    const report = await checkDns(s, l, lookup);
    const toCreate = report.records.filter((r) => r.status !== 'ok');
    return { provider: 'manual', records: report.records.length, changes: [], unchanged: report.counts.ok, byHand: toCreate.map((r) => r.zoneLine), toCreate, seconds: (Date.now() - started) / 1000 };
  }
  const provider = providerFor(s, l, lookup);
  const expected = expectedRecords(s, addresses, loadDkimKeys(l));
  const changes: Change[] = [];
  const byHand: string[] = [];
  let unchanged = 0;
  for (const [i, r] of expected.entries()) {
    progress(5 + Math.round((90 * i) / expected.length), `${r.type} ${r.name}`);
    if (r.zone === null) {
      byHand.push(zoneLine(r));
      continue;
    }
    try {
      const done = await publishOne(provider, lookup, r);
      if (done.length === 0) unchanged++;
      changes.push(...done);
    } catch (e) {
      const m = e instanceof MailError ? e : new MailError('daemon_error', (e as Error).message);
      throw new MailError(m.code, `${r.type} ${r.name}: ${m.message} (${i} of ${expected.length} records done${changes.length ? `, ${changes.length} changed` : ''}; run dns-setup again once fixed)`, m.field);
    }
  }
  progress(100, 'done');
  return { provider: s.dns.provider, records: expected.length, changes, unchanged, byHand, seconds: (Date.now() - started) / 1000 };
}

async function publishOne(provider: ReturnType<typeof providerFor>, lookup: Lookup, r: ExpectedRecord): Promise<Change[]> {
  const a = await lookup.published(r.name, r.type, r.zone);
  if (a.status === 'error') throw new MailError('daemon_error', `cannot read it from the zone's servers: ${a.error}`);
  const values = a.status === 'ok' ? a.values : [];
  const ours = r.owns === 'spf' ? values.filter(isSpf) : values;
  const present = ours.some((v) => matches(r, v));
  const stale = ours.filter((v) => !matches(r, v));
  const base = { type: r.type, name: r.name, value: r.value };
  if (present && stale.length === 0) return [];
  if (!present && stale.length === 1) {
    await provider.upsert(r, { ...r, value: stale[0]! });
    return [{ action: 'replaced', ...base, old: stale[0]! }];
  }
  const out: Change[] = [];
  for (const v of stale) {
    await provider.remove({ ...r, value: v });
    out.push({ action: 'removed', ...base, value: v });
  }
  if (!present) {
    await provider.upsert(r);
    out.push({ action: 'added', ...base });
  }
  return out;
}

export function setupText(r: SetupResult): string {
  const lines: string[] = [];
  if (r.provider === 'manual') {
    if (r.byHand.length === 0) return `all ${r.records} records are published`;
    lines.push(`dns.provider is manual: create these ${r.byHand.length} records at your DNS host, then run \`mailctl dns-check\`:`, ...r.byHand);
    return lines.join('\n');
  }
  for (const c of r.changes) lines.push(`${c.action.padEnd(8)} ${c.type.padEnd(4)} ${c.name} ${c.action === 'removed' ? c.value : c.value}${c.old ? `  (was ${c.old})` : ''}`);
  if (r.byHand.length) lines.push('outside the zones in dns.zone, create by hand:', ...r.byHand.map((l) => `  ${l}`));
  lines.push(`${r.records} records: ${r.changes.length} changes, ${r.unchanged} already right (${r.seconds.toFixed(1)} s)`);
  return lines.join('\n');
}
