// DNS and DKIM: the records this server needs, publishing them, checking them, DKIM keys and
// their rotation, the TSIG key nsupdate signs with.
import { arg } from './args.ts';
import { method } from './method.ts';
import { MailError } from '../core/errors.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { expectedRecords, formatTable, formatZone, dkimRecordValue } from '../dns/records.ts';
import { publicAddresses } from '../dns/addresses.ts';
import { checkDns, checkText } from '../dns/check.ts';
import { dnsHealth } from '../dns/health.ts';
import { dnsSetup, setupText } from '../dns/setup.ts';
import { writeTsigKey, readTsigKey } from '../dns/providers.ts';
import { TSIG_ALGORITHMS, tsigName, tsigSecret } from '../dns/validate.ts';
import { loadDkimKeys, ensureDkimKeys } from '../dkim/keys.ts';
import { rotateDkim, rotateText } from '../dkim/rotate.ts';
import { apply } from '../runtime/service.ts';
import { ValidationError } from '../config/validate.ts';

const tsigSecretArg = arg.password('TSIG secret (base64, as tsig-keygen prints it)').checked(tsigSecret);

const tsigNameArg = arg.text('TSIG key name, as the DNS server knows it', 253).word().checked(tsigName);

export const dnsMethods = [
  method({
    name: 'dns_records',
    access: 'read',
    doc: 'The DNS records this server expects (table, zone-file lines or JSON)',
    cli: ['dns', 'records'],
    args: { format: arg.oneOf('table, zone or json', ['table', 'zone', 'json'] as const).optional() },
    handler: ({ format = 'table' }, ctx) => {
      const addresses = publicAddresses(ctx.settings);
      const keys = loadDkimKeys(ctx.layout);
      const problems = [...addresses.problems];
      if (ctx.settings.features.dkim && !keys.some((k) => k.state === 'active')) problems.push('no DKIM key yet: `mailctl start` or `mailctl dns-setup` creates them');
      const records = expectedRecords(ctx.settings, addresses, keys);
      return { format, records, problems, zone: formatZone(records) };
    },
    // json stays one parseable document, problems included; the other forms list them after.
    text: (r) =>
      r.format === 'json'
        ? JSON.stringify({ records: r.records, problems: r.problems })
        : [r.format === 'zone' ? r.zone : formatTable(r.records), ...r.problems.map((p) => `problem: ${p}`)].join('\n'),
    failed: (r) => r.problems.length > 0,
  }),
  method({
    name: 'dns_setup',
    access: 'write',
    job: true,
    doc: 'Publish the expected DNS records (MX, SPF, DMARC, DKIM, ...) through dns.provider',
    cli: ['dns-setup'],
    args: {},
    handler: async (_a, ctx) => {
      ctx.progress(2, 'DKIM keys');
      await withWriteLock(() => {
        if (ensureDkimKeys(ctx.settings, ctx.layout).changed) apply(ctx);
      });
      return dnsSetup(ctx.settings, ctx.layout, ctx.progress);
    },
    text: setupText,
  }),
  method({
    name: 'dns_check',
    access: 'read',
    doc: 'Compare published DNS records with the expected ones (exit 1 when any is wrong)',
    cli: ['dns-check'],
    args: {},
    // A read: it reports, and stores nothing (the stored summary is tick's, under the write
    // lock); the page shows the summary it returns in place of the stored one.
    handler: async (_a, ctx) => {
      const report = await checkDns(ctx.settings, ctx.layout);
      return { ...report, health: dnsHealth(report) };
    },
    text: checkText,
    failed: (r) => !r.ok,
  }),
  method({
    name: 'dns_key_set',
    access: 'write',
    doc: 'Store the TSIG key nsupdate signs with (data_path/secrets/tsig.key, never UCI)',
    cli: ['dns', 'key-set'],
    args: {
      name: tsigNameArg,
      algorithm: arg.oneOf(`TSIG algorithm (${TSIG_ALGORITHMS.join(', ')}; default hmac-sha256)`, TSIG_ALGORITHMS).optional(),
      secret: tsigSecretArg,
    },
    handler: ({ name, algorithm = 'hmac-sha256', secret }, ctx) => {
      writeTsigKey(ctx.layout, { name, algorithm, secret });
      return { name, algorithm };
    },
    text: (r) => `TSIG key ${r.name} (${r.algorithm}) stored`,
  }),
  method({
    name: 'dns_key_show',
    access: 'read',
    doc: 'Name and algorithm of the stored TSIG key (never the secret)',
    cli: ['dns', 'key-show'],
    args: {},
    handler: (_a, ctx) => {
      const k = readTsigKey(ctx.layout);
      return k ? { name: k.name, algorithm: k.algorithm } : { name: null, algorithm: null };
    },
    text: (r) => (r.name ? `${r.name} (${r.algorithm})` : 'no TSIG key'),
  }),
  method({
    name: 'dkim_show',
    access: 'read',
    doc: 'DKIM selectors, states and public keys per domain',
    cli: ['dkim', 'show'],
    args: { domain: arg.domain('only this domain').word().optional() },
    handler: ({ domain }, ctx) => {
      const grace = ctx.settings.dns.dkimGraceDays * 86_400_000;
      const keys = loadDkimKeys(ctx.layout)
        .filter((k) => !domain || k.domain === domain)
        .map((k) => ({
          domain: k.domain,
          selector: k.selector,
          algorithm: k.algorithm,
          state: k.state,
          created: k.created,
          removeAfter: k.state === 'retiring' ? new Date(Date.parse(k.retired ?? k.created) + grace).toISOString() : null,
          record: { name: `${k.selector}._domainkey.${k.domain}`, type: 'TXT', value: dkimRecordValue(k.algorithm, k.publicKey) },
        }));
      if (domain && keys.length === 0) throw new MailError('not_found', `no DKIM keys for ${domain}`, 'domain');
      return { enabled: ctx.settings.features.dkim, signer: ctx.settings.features.spamFilter ? 'rspamd' : ctx.settings.features.dkim ? 'opendkim' : null, keys };
    },
    text: (r) =>
      [
        ...(r.enabled ? [] : ['features.dkim is off: nothing is signed']),
        ...r.keys.map((k) => `${k.domain}  ${k.selector}  ${k.algorithm}  ${k.state}${k.removeAfter ? ` (record removed after ${k.removeAfter.slice(0, 10)})` : ''}\n  ${k.record.name} TXT "${k.record.value}"`),
      ].join('\n'),
  }),
  method({
    name: 'dkim_rotate',
    access: 'write',
    job: true,
    doc: 'Publish a new DKIM key, switch signing once DNS shows it, retire the old one',
    cli: ['dkim', 'rotate'],
    args: { domain: arg.domain('only this domain (default: all)').word().optional() },
    handler: ({ domain }, ctx) => rotateDkim(ctx, domain),
    text: rotateText,
    failed: (r) => r.state !== 'rotated',
  }),
];

export { ValidationError };
