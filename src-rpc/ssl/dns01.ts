// The DNS side of an ACME DNS-01 order: the challenge TXT is published through the same provider
// as dns-setup (dns.provider), the order goes on only once the zone's authoritative servers
// answer it, and it is removed afterwards. With dns.provider manual the owner creates it by
// hand: the job shows the record and waits for it to appear.
import { providerFor, sameValue } from '../dns/providers.ts';
import { Lookup } from '../dns/lookup.ts';
import { zoneOf, zoneLine } from '../dns/records.ts';
import type { DnsRecord } from '../dns/provider.ts';
import type { Dns01Hooks, TxtRecord } from './acme.ts';
import type { Context } from '../core/context.ts';

/** Resolvers cache the answer no longer than this after the record is gone. */
const CHALLENGE_TTL = 60;
/** A person creating the record by hand needs longer than dns.wait. */
const MANUAL_WAIT_S = 900;

export function dns01Hooks(ctx: Context, log: (line: string) => void): Dns01Hooks {
  const s = ctx.settings;
  const lookup = new Lookup(s);
  const provider = providerFor(s, ctx.layout, lookup);
  const manual = provider.kind === 'manual';
  const record = (t: TxtRecord): DnsRecord => ({ name: t.name.toLowerCase(), type: 'TXT', value: t.value, ttl: CHALLENGE_TTL });
  const byHand: string[] = [];
  return {
    async publish(t) {
      if (manual) {
        byHand.push(zoneLine(record(t)));
        ctx.progress(35, `dns.provider is manual: create at your DNS host, then wait: ${byHand.join(' ; ')}`);
        log(`create by hand: ${zoneLine(record(t))}`);
        return;
      }
      await provider.upsert(record(t));
    },
    async waitVisible(records) {
      // The providers confirm their writes the same way; asking again here keeps the promise
      // "the CA is asked only once the zone's servers answer" whatever the provider does.
      const seconds = manual ? MANUAL_WAIT_S : s.dns.wait;
      for (const t of records) {
        const r = record(t);
        await lookup.waitFor(r.name, 'TXT', zoneOf(s, r.name), (values) => values.some(sameValue(r)), seconds, `the DNS-01 challenge record ${r.name}`);
      }
    },
    async unpublish(t) {
      if (manual) throw new Error(`dns.provider is manual: delete ${zoneLine(record(t))} at your DNS host`);
      await provider.remove(record(t));
    },
  };
}
