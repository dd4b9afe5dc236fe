// dns-check: every expected record against what the zone's servers publish, side by side.
// SPF and DMARC are judged by meaning (valid syntax, our host authorised, the configured
// policy), DKIM by its key (p= must be ours), the rest by value. It only reads DNS, so it works
// whatever publishes the zone.
import { mailHost, type Settings } from '../config/settings.ts';
import { loadDkimKeys } from '../dkim/keys.ts';
import { expectedRecords, zoneLine, dmarcReportAddress, type ExpectedRecord, type PublicAddresses } from './records.ts';
import { isSpf, checkSpf, checkDmarc, dkimKeyOf } from './syntax.ts';
import { sameValue } from './providers.ts';
import { publicAddresses } from './addresses.ts';
import { Lookup } from './lookup.ts';
import type { Layout } from '../core/layout.ts';

export type RecordStatus = 'ok' | 'missing' | 'different' | 'error';

export interface CheckRow {
  kind: ExpectedRecord['kind'];
  domain: string;
  name: string;
  type: string;
  expected: string;
  published: string[];
  status: RecordStatus;
  problems: string[];
  /** The expected record in zone-file form, ready to paste. */
  zoneLine: string;
}

export interface CheckReport {
  ok: boolean;
  provider: string;
  counts: Record<RecordStatus, number>;
  /** Problems that are not one record's (no usable public address, no DKIM key yet). */
  problems: string[];
  records: CheckRow[];
}

/** Does a published value stand for the expected record (DKIM: the same key, whatever the tag order). */
export function matches(r: ExpectedRecord, value: string): boolean {
  if (r.kind === 'dkim') {
    const pub = dkimKeyOf(value);
    return pub !== null && pub.algorithm === r.dkim!.algorithm && pub.publicKey === dkimKeyOf(r.value)!.publicKey;
  }
  return sameValue(r)(value);
}

function judge(s: Settings, addresses: PublicAddresses, r: ExpectedRecord, ours: string[]): { status: RecordStatus; problems: string[] } {
  if (ours.length === 0) return { status: 'missing', problems: [] };
  const problems: string[] = [];
  const host = mailHost(s);
  switch (r.kind) {
    case 'spf': {
      if (ours.length > 1) problems.push(`${ours.length} SPF records: receivers treat that as an error (permerror); keep one`);
      const f = checkSpf(ours[0]!, host, addresses.ip4);
      problems.push(...f.problems);
      if (!f.coversHost) problems.push(`does not authorise ${host} (mx, a:${host} or ip4:<address>)`);
      if (f.all !== s.dns.spfPolicy) problems.push(`ends with ${f.all ?? 'no all term'} instead of ${s.dns.spfPolicy} (dns.spf_policy)`);
      break;
    }
    case 'dmarc': {
      if (ours.length > 1) problems.push(`${ours.length} DMARC records: receivers ignore them all; keep one`);
      const f = checkDmarc(ours[0]!);
      problems.push(...f.problems);
      if (f.policy !== null && f.policy !== s.dns.dmarcPolicy) problems.push(`p=${f.policy} instead of ${s.dns.dmarcPolicy} (dns.dmarc_policy)`);
      const rua = `mailto:${dmarcReportAddress(s, r.domain)}`.toLowerCase();
      if (!(f.rua ?? '').toLowerCase().split(',').map((x) => x.trim()).includes(rua)) problems.push(`reports (rua) do not go to ${rua.slice(7)}`);
      break;
    }
    case 'dkim': {
      const pub = dkimKeyOf(ours[0]!);
      if (ours.length > 1) problems.push(`${ours.length} TXT records at this selector: verifiers fail on that`);
      if (!pub) problems.push('is not a DKIM key record (v=DKIM1; k=...; p=...)');
      else if (pub.algorithm !== r.dkim!.algorithm) problems.push(`k=${pub.algorithm} instead of k=${r.dkim!.algorithm}`);
      else if (!matches(r, ours[0]!)) problems.push(pub.publicKey === '' ? 'p= is empty (the key is revoked)' : 'p= is not our key');
      break;
    }
    case 'mx': {
      const elsewhere = ours.filter((v) => !matches(r, v));
      if (!ours.some((v) => matches(r, v))) problems.push(`no MX points at ${host}`);
      if (elsewhere.length) problems.push(`MX also pointing elsewhere: ${elsewhere.join(', ')} (mail for ${r.domain} may go there)`);
      break;
    }
    default: {
      if (!ours.some((v) => matches(r, v))) problems.push(`published ${ours.join(' | ')} instead`);
      const extra = ours.filter((v) => !matches(r, v));
      if (extra.length && ours.some((v) => matches(r, v))) problems.push(`also published: ${extra.join(' | ')}`);
    }
  }
  return { status: problems.length ? 'different' : 'ok', problems };
}

export async function checkDns(s: Settings, l: Layout, lookup = new Lookup(s)): Promise<CheckReport> {
  const addresses = publicAddresses(s);
  const keys = loadDkimKeys(l);
  const problems = [...addresses.problems];
  if (s.features.dkim && !keys.some((k) => k.state === 'active')) problems.push('no DKIM key yet: `mailctl start` or `mailctl dns-setup` creates them');
  const expected = expectedRecords(s, addresses, keys);
  const records = await Promise.all(
    expected.map(async (r): Promise<CheckRow> => {
      const base = { kind: r.kind, domain: r.domain, name: r.name, type: r.type, expected: r.value, zoneLine: zoneLine(r) };
      const a = await lookup.published(r.name, r.type, r.zone);
      if (a.status === 'error') return { ...base, published: [], status: 'error', problems: [`the DNS did not answer: ${a.error}`] };
      const values = a.status === 'ok' ? a.values : [];
      const ours = r.owns === 'spf' ? values.filter(isSpf) : values;
      return { ...base, published: ours, ...judge(s, addresses, r, ours) };
    }),
  );
  const counts: Record<RecordStatus, number> = { ok: 0, missing: 0, different: 0, error: 0 };
  for (const r of records) counts[r.status]++;
  return { ok: problems.length === 0 && records.every((r) => r.status === 'ok'), provider: s.dns.provider, counts, problems, records };
}

export function checkText(r: CheckReport): string {
  const lines: string[] = [];
  for (const row of r.records) {
    const mark = row.status === 'ok' ? 'ok       ' : row.status.padEnd(9);
    lines.push(`${mark} ${row.type.padEnd(4)} ${row.name}`);
    if (row.status !== 'ok') {
      lines.push(`            expected:  ${row.expected}`);
      lines.push(`            published: ${row.published.length ? row.published.join(' | ') : '(nothing)'}`);
      for (const p of row.problems) lines.push(`            ${p}`);
    }
  }
  for (const p of r.problems) lines.push(`problem: ${p}`);
  lines.push(`${r.counts.ok} ok, ${r.counts.missing} missing, ${r.counts.different} different, ${r.counts.error} not answered${r.ok ? '' : ' — DNS needs attention'}`);
  return lines.join('\n');
}
