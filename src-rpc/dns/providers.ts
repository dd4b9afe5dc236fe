// The three ways records get published (dns.provider), behind the DnsProvider interface.
// Whatever a tool answers, a write is done only once the zone's servers show it (Lookup.waitFor).
//
// - nsupdate: RFC 2136 updates signed with the TSIG key in data_path/secrets/tsig.key; the old
//   record of a replacement is deleted by its exact data in the same update message.
// - dnsctl: SecuBox's provider tool. It exits 0 even when it failed, and `rm TYPE sub` deletes
//   the provider's *first* record of that type at that name, so it is only used to delete when
//   that record is the only one there; anything else is refused with what to do by hand.
// - manual: publishes nothing; dns-setup prints what to create.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { run } from '../sys/spawn.ts';
import { readText, writeAtomic, ensureDir } from '../sys/fs.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { rdata, relativeName, zoneOf, zoneLine } from './records.ts';
import { splitServer, tsigName, tsigSecret, TSIG_ALGORITHMS, type TsigAlgorithm } from './validate.ts';
import { Lookup } from './lookup.ts';
import type { DnsProvider, DnsRecord } from './provider.ts';
import type { Settings } from '../config/settings.ts';

const sameValue = (r: DnsRecord) => (v: string) => normalise(r, v) === normalise(r, r.value);

function normalise(r: Pick<DnsRecord, 'type'>, v: string): string {
  return r.type === 'TXT' ? v : v.toLowerCase().replace(/\s+/g, ' ').trim();
}

function zoneFor(s: Settings, r: DnsRecord): string {
  const zone = zoneOf(s, r.name);
  if (!zone) throw new MailError('invalid_argument', `${r.name} is in none of the zones we publish into (dns.zone): create it by hand: ${zoneLine(r)}`, 'dns.zone');
  return zone;
}

// ---- TSIG key ----

export const tsigKeyFile = (l: Layout) => join(l.secretsDir, 'tsig.key');

export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: string;
}

/** named.conf syntax, what tsig-keygen prints and nsupdate -k reads. */
export function renderTsigKey(k: TsigKey): string {
  return `key "${k.name}" {\n\talgorithm ${k.algorithm};\n\tsecret "${k.secret}";\n};\n`;
}

export function parseTsigKey(text: string): TsigKey {
  const m = /key\s+"?([^"\s{]+)"?\s*\{\s*algorithm\s+"?([a-z0-9-]+)"?\s*;\s*secret\s+"([^"]*)"\s*;\s*\}\s*;?/i.exec(text);
  if (!m) throw new MailError('invalid_argument', 'data_path/secrets/tsig.key is not a TSIG key file (key "name" { algorithm ...; secret "..."; };)');
  const algorithm = m[2]!.toLowerCase();
  if (!(TSIG_ALGORITHMS as readonly string[]).includes(algorithm)) throw new MailError('invalid_argument', `the TSIG key's algorithm ${algorithm} is not one of ${TSIG_ALGORITHMS.join(', ')}`);
  try {
    return { name: tsigName('name', m[1]), algorithm: algorithm as TsigAlgorithm, secret: tsigSecret('secret', m[3]) };
  } catch (e) {
    throw new MailError('invalid_argument', `data_path/secrets/tsig.key: ${(e as Error).message}`);
  }
}

export function readTsigKey(l: Layout): TsigKey | null {
  const text = readText(tsigKeyFile(l));
  return text === null ? null : parseTsigKey(text);
}

export function writeTsigKey(l: Layout, k: TsigKey): void {
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  writeAtomic(tsigKeyFile(l), renderTsigKey(k), { mode: 0o600, uid: 0, gid: 0 });
}

// ---- providers ----

class NsupdateProvider implements DnsProvider {
  readonly kind = 'nsupdate' as const;
  constructor(
    private readonly s: Settings,
    private readonly l: Layout,
    private readonly lookup: Lookup,
  ) {}

  private send(zone: string, lines: string[]): void {
    if (!readTsigKey(this.l)) throw new MailError('invalid_argument', 'dns.provider is nsupdate but there is no TSIG key: set one with `mailctl dns key-set NAME --algorithm hmac-sha256 --password-stdin`');
    const header: string[] = [];
    if (this.s.dns.server) {
      const { host, port } = splitServer(this.s.dns.server);
      header.push(`server ${host} ${port}`);
    }
    header.push(`zone ${zone}.`);
    const script = [...header, ...lines, 'send', ''].join('\n');
    // -v: TCP (a 2048-bit DKIM key makes a large message); -t: never wait forever.
    const r = run(['nsupdate', '-v', '-t', '10', '-k', tsigKeyFile(this.l)], { input: script, timeoutMs: 30_000 });
    if (r.code !== 0) {
      const why = (r.stderr || r.stdout).trim().split('\n').filter((x) => x !== '').slice(-2).join(' / ');
      throw new MailError('daemon_error', `nsupdate failed for zone ${zone}: ${why || `exit ${r.code}`}`);
    }
  }

  async upsert(record: DnsRecord, replaces?: DnsRecord): Promise<void> {
    const zone = zoneFor(this.s, record);
    const lines: string[] = [];
    if (replaces && !sameValue(record)(replaces.value)) lines.push(`update delete ${replaces.name}. ${replaces.type} ${rdata(replaces)}`);
    lines.push(`update add ${record.name}. ${record.ttl} ${record.type} ${rdata(record)}`);
    this.send(zone, lines);
    await this.lookup.waitFor(record.name, record.type, zone, (vs) => vs.some(sameValue(record)) && !(replaces && !sameValue(record)(replaces.value) && vs.some(sameValue(replaces))), this.s.dns.wait, `publishing ${record.name} ${record.type}`);
  }

  async remove(record: DnsRecord): Promise<void> {
    const zone = zoneFor(this.s, record);
    this.send(zone, [`update delete ${record.name}. ${record.type} ${rdata(record)}`]);
    await this.lookup.waitFor(record.name, record.type, zone, (vs) => !vs.some(sameValue(record)), this.s.dns.wait, `removing ${record.name} ${record.type}`);
  }
}

class DnsctlProvider implements DnsProvider {
  readonly kind = 'dnsctl' as const;
  constructor(
    private readonly s: Settings,
    private readonly lookup: Lookup,
  ) {}

  private dnsctl(args: string[]): string {
    const r = run(['dnsctl', ...args], { timeoutMs: 120_000 });
    if (r.code === 127) throw new MailError('unsupported', 'dns.provider is dnsctl but dnsctl is not installed (secubox-app-dns-provider)');
    // dnsctl exits 0 whatever happened: its output is kept for the error message only.
    return (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '').trim();
  }

  private async current(record: DnsRecord, zone: string): Promise<string[]> {
    const a = await this.lookup.published(record.name, record.type, zone);
    if (a.status === 'error') throw new MailError('daemon_error', `cannot read ${record.name} ${record.type} from the zone's servers: ${a.error}`);
    return a.status === 'ok' ? a.values : [];
  }

  async upsert(record: DnsRecord, replaces?: DnsRecord): Promise<void> {
    const zone = zoneFor(this.s, record);
    if (replaces && !sameValue(record)(replaces.value)) await this.remove(replaces);
    if ((await this.current(record, zone)).some(sameValue(record))) return;
    const out = this.dnsctl(['-z', zone, 'add', record.type, relativeName(record.name, zone), record.value, String(record.ttl)]);
    try {
      await this.lookup.waitFor(record.name, record.type, zone, (vs) => vs.some(sameValue(record)), this.s.dns.wait, `dnsctl add ${record.type} ${record.name}`);
    } catch (e) {
      throw new MailError('daemon_error', `${(e as Error).message}; dnsctl said: ${lastLines(out)}`);
    }
  }

  async remove(record: DnsRecord): Promise<void> {
    const zone = zoneFor(this.s, record);
    const values = await this.current(record, zone);
    if (!values.some(sameValue(record))) return;
    if (values.length > 1) {
      throw new MailError(
        'conflict',
        `${record.name} has ${values.length} ${record.type} records and \`dnsctl rm\` deletes whichever the provider lists first: delete exactly ${JSON.stringify(record.value)} by hand (the others must stay), then run again`,
      );
    }
    const out = this.dnsctl(['-z', zone, 'rm', record.type, relativeName(record.name, zone)]);
    try {
      await this.lookup.waitFor(record.name, record.type, zone, (vs) => !vs.some(sameValue(record)), this.s.dns.wait, `dnsctl rm ${record.type} ${record.name}`);
    } catch (e) {
      throw new MailError('daemon_error', `${(e as Error).message}; dnsctl said: ${lastLines(out)}`);
    }
  }
}

class ManualProvider implements DnsProvider {
  readonly kind = 'manual' as const;
  async upsert(record: DnsRecord, replaces?: DnsRecord): Promise<void> {
    throw new MailError('unsupported', `dns.provider is manual: ${replaces ? `replace ${zoneLine(replaces)} with` : 'create'} ${zoneLine(record)} at your DNS host`);
  }
  async remove(record: DnsRecord): Promise<void> {
    throw new MailError('unsupported', `dns.provider is manual: delete ${zoneLine(record)} at your DNS host`);
  }
}

const lastLines = (out: string) => out.split('\n').filter((l) => l.trim() !== '').slice(-3).join(' / ') || '(nothing)';

/** The provider dns.provider names; its writes are confirmed through `lookup`. */
export function providerFor(s: Settings, l: Layout, lookup = new Lookup(s)): DnsProvider {
  switch (s.dns.provider) {
    case 'nsupdate':
      return new NsupdateProvider(s, l, lookup);
    case 'dnsctl':
      return new DnsctlProvider(s, lookup);
    case 'manual':
      return new ManualProvider();
  }
}

export { sameValue };
