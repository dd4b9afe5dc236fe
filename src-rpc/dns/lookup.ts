// What the DNS publishes, asked where it is decided: the zone's own (authoritative) servers,
// so a cache cannot show an old answer after a change. dns.server (the primary we update) is
// asked when set; otherwise the zone's NS hosts, found through the resolver (dns.resolver or
// the system's). Names outside our zones are asked through the resolver.
import { MailError } from '../core/errors.ts';
import { query, systemNameservers, type Answer, type QueryType, type Server } from '../sys/dns.ts';
import { splitServer } from './validate.ts';
import type { Settings } from '../config/settings.ts';

export const QUERY_TIMEOUT_MS = 3000;

export class Lookup {
  private readonly zoneServers = new Map<string, Promise<Server[]>>();
  readonly resolver: Server[];

  constructor(private readonly s: Settings) {
    this.resolver = s.dns.resolver ? [splitServer(s.dns.resolver)] : systemNameservers();
  }

  /** Servers to ask about names in `zone` (null zone: the resolver). */
  servers(zone: string | null): Promise<Server[]> {
    if (zone === null) return Promise.resolve(this.resolver);
    let p = this.zoneServers.get(zone);
    if (!p) {
      p = this.findServers(zone);
      this.zoneServers.set(zone, p);
    }
    return p;
  }

  private async findServers(zone: string): Promise<Server[]> {
    if (this.s.dns.server) {
      const { host, port } = splitServer(this.s.dns.server);
      if (/^[0-9.]+$|:/.test(host)) return [{ host, port }];
      const a = await query(host, 'A', this.resolver, QUERY_TIMEOUT_MS);
      if (a.status === 'ok') return a.values.map((h) => ({ host: h, port }));
    }
    const ns = await query(zone, 'NS', this.resolver, QUERY_TIMEOUT_MS);
    if (ns.status !== 'ok') return this.resolver;
    const out: Server[] = [];
    for (const name of ns.values) {
      const a = await query(name, 'A', this.resolver, QUERY_TIMEOUT_MS);
      if (a.status === 'ok') out.push(...a.values.map((host) => ({ host, port: 53 })));
    }
    return out.length ? out : this.resolver;
  }

  /** One answer per server; callers want every server to agree. */
  async ask(name: string, type: QueryType, zone: string | null): Promise<Answer[]> {
    const servers = await this.servers(zone);
    return Promise.all(servers.map((srv) => query(name, type, [srv], QUERY_TIMEOUT_MS)));
  }

  /** The published values, as the first answering server has them; error when none answers. */
  async published(name: string, type: QueryType, zone: string | null): Promise<Answer> {
    const answers = await this.ask(name, type, zone);
    return answers.find((a) => a.status !== 'error') ?? answers[0] ?? { status: 'error', error: 'no server to ask' };
  }

  /**
   * Poll until `test` holds for the values every server publishes (an empty list for none), or
   * throw after `seconds`. This, not a tool's exit code, is what makes a write count as done.
   */
  async waitFor(name: string, type: QueryType, zone: string | null, test: (values: string[]) => boolean, seconds: number, what: string): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    let last = '';
    for (;;) {
      const answers = await this.ask(name, type, zone);
      const values = answers.map((a) => (a.status === 'ok' ? a.values : a.status === 'none' ? [] : null));
      if (values.every((v) => v !== null && test(v))) return;
      last = answers.map((a) => (a.status === 'ok' ? a.values.join(' | ') : a.status === 'none' ? '(none)' : a.error)).join('; ');
      if (Date.now() >= deadline) {
        throw new MailError('daemon_error', `${what}: not seen in DNS after ${seconds} s (${name} ${type} is: ${last || '(none)'})`);
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(50, deadline - Date.now()))));
    }
  }
}
