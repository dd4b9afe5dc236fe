// DKIM rotation: publish new keys under new selectors, wait until the zone's servers show them,
// switch signing, keep the old records for dns.dkim_grace_days (mail in flight and in queues
// still verifies), then `tick` removes them. Each step is saved, so a rotation interrupted at
// any point continues where it stopped when run again.
import { MailError } from '../core/errors.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { mailDomains } from '../config/settings.ts';
import { dkimRecordValue, zoneLine, zoneOf } from '../dns/records.ts';
import { providerFor } from '../dns/providers.ts';
import { Lookup } from '../dns/lookup.ts';
import { ensureDkimKeys, pendingKeys, switchKeys, loadDkimKeys, expiredKeys, forgetKey, type DkimKey } from './keys.ts';
import type { DnsRecord } from '../dns/provider.ts';
import type { Context } from '../core/context.ts';
import type { Settings } from '../config/settings.ts';

export const keyRecord = (s: Settings, k: DkimKey): DnsRecord => ({
  name: `${k.selector}._domainkey.${k.domain}`,
  type: 'TXT',
  value: dkimRecordValue(k.algorithm, k.publicKey),
  ttl: s.dns.ttl,
});

export interface RotateResult {
  state: 'rotated' | 'waiting';
  domains: { domain: string; signing: string[]; retiring: string[] }[];
  /** When `tick` removes the old records. */
  removeAfter: string | null;
  /** waiting (manual provider): the records to publish before running rotate again. */
  publish: string[];
}

export async function rotateDkim(ctx: Context, only?: string): Promise<RotateResult> {
  const s = ctx.settings;
  if (!s.features.dkim) throw new MailError('invalid_argument', 'features.dkim is off: there is nothing to rotate', 'features.dkim');
  const domains = only ? [only] : mailDomains(s);
  if (only && !mailDomains(s).includes(only)) throw new MailError('not_found', `${only} is not one of our mail domains`, 'domain');

  ctx.progress(5, 'new keys');
  const pending = await withWriteLock(() => {
    ensureDkimKeys(s, ctx.layout);
    return domains.flatMap((d) => pendingKeys(s, ctx.layout, d));
  });

  const lookup = new Lookup(s);
  const records = pending.map((k) => keyRecord(s, k));
  if (s.dns.provider === 'manual') {
    ctx.progress(20, 'waiting for the new records in DNS');
    try {
      for (const r of records) await lookup.waitFor(r.name, r.type, zoneOf(s, r.name), (vs) => vs.includes(r.value), s.dns.wait, `DKIM record ${r.name}`);
    } catch {
      return { state: 'waiting', domains: [], removeAfter: null, publish: records.map(zoneLine) };
    }
  } else {
    const provider = providerFor(s, ctx.layout, lookup);
    for (const [i, r] of records.entries()) {
      ctx.progress(10 + Math.round((60 * i) / records.length), `publishing ${r.name}`);
      await provider.upsert(r);
    }
  }

  ctx.progress(80, 'switching signing');
  const now = new Date();
  const result = await withWriteLock(() => {
    const switched = domains.map((d) => ({ domain: d, ...switchKeys(ctx.layout, d, now) }));
    ctx.daemons.apply(ctx);
    return switched;
  });
  return {
    state: 'rotated',
    domains: result.map((r) => ({ domain: r.domain, signing: r.activated.map((k) => k.selector), retiring: r.retired.map((k) => k.selector) })),
    removeAfter: new Date(now.getTime() + s.dns.dkimGraceDays * 86_400_000).toISOString(),
    publish: [],
  };
}

export function rotateText(r: RotateResult): string {
  if (r.state === 'waiting') return ['dns.provider is manual: publish these records, then run `mailctl dkim rotate` again:', ...r.publish].join('\n');
  return [
    ...r.domains.map((d) => `${d.domain}: signing with ${d.signing.join(', ')}${d.retiring.length ? `; ${d.retiring.join(', ')} retired` : ''}`),
    r.removeAfter ? `old records stay published until ${r.removeAfter.slice(0, 16).replace('T', ' ')} UTC (\`mailctl tick\` removes them)` : '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

/** tick: remove the records and keys of retired selectors whose grace period is over. */
export async function retireExpiredKeys(ctx: Context): Promise<{ removed: string[]; byHand: string[]; errors: string[] }> {
  const s = ctx.settings;
  const expired = expiredKeys(loadDkimKeys(ctx.layout), s.dns.dkimGraceDays);
  const out = { removed: [] as string[], byHand: [] as string[], errors: [] as string[] };
  if (expired.length === 0) return out;
  const provider = s.dns.provider === 'manual' ? null : providerFor(s, ctx.layout);
  for (const k of expired) {
    const r = keyRecord(s, k);
    try {
      if (provider) await provider.remove(r);
      else out.byHand.push(`delete ${zoneLine(r)}`);
      forgetKey(ctx.layout, k);
      out.removed.push(r.name);
    } catch (e) {
      out.errors.push(`${r.name}: ${(e as Error).message}`);
    }
  }
  return out;
}
