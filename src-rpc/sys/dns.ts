// DNS queries (node:dns stays in sys/). One fresh resolver per query: no cache can hide a change,
// and every query has its own timeout, so an unanswering server never hangs a check.
// node:dns is loaded by the first query: only DNS methods need it (see sys/tls-probe.ts).
import type { Resolver } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP } from './ip.ts';

export type QueryType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'SRV' | 'NS' | 'CNAME';

export type Answer =
  | { status: 'ok'; values: string[] }
  /** The name does not exist, or has no record of this type. */
  | { status: 'none' }
  /** No answer in time, refused, or another server failure. */
  | { status: 'error'; error: string };

export interface Server {
  host: string;
  port: number;
}

/** The system resolver's servers (/etc/resolv.conf; the real one: the daemons use it too). */
export function systemNameservers(): Server[] {
  let text = '';
  try {
    text = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return [{ host: '127.0.0.1', port: 53 }];
  }
  const out = text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((a): a is string => a !== undefined && isIP(a.replace(/%.*$/, '')) !== 0)
    .map((host) => ({ host: host.replace(/%.*$/, ''), port: 53 }));
  return out.length ? out : [{ host: '127.0.0.1', port: 53 }];
}

const serverString = (s: Server) => (isIP(s.host) === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/**
 * Values in presentation form, compared by callers as text: A/AAAA the address; MX
 * "10 mail.example.com."; SRV "0 1 587 mail.example.com."; TXT the strings joined; NS the name;
 * CNAME the target with its final dot.
 */
export async function query(name: string, type: QueryType, servers: Server[], timeoutMs = 3000): Promise<Answer> {
  const { Resolver } = await import('node:dns');
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers(servers.map(serverString));
  // c-ares retries every server; a hard deadline keeps the total bounded whatever it does.
  const deadline = timeoutMs * Math.max(1, servers.length) + 500;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Answer>((resolve) => {
    timer = setTimeout(() => {
      resolver.cancel();
      resolve({ status: 'error', error: `no answer within ${Math.round(deadline / 1000)} s` });
    }, deadline);
  });
  try {
    return await Promise.race([ask(resolver, name, type), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function ask(r: Resolver, name: string, type: QueryType): Promise<Answer> {
  const p = r.resolve.bind(r) as unknown as (n: string, t: string, cb: (e: NodeJS.ErrnoException | null, v: unknown) => void) => void;
  return new Promise((resolve) => {
    p(name, type, (err, value) => {
      if (err) {
        if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return resolve({ status: 'none' });
        const what = err.code === 'ETIMEOUT' ? 'no answer (timeout)' : err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'EREFUSED' ? 'query refused' : err.code ?? err.message;
        return resolve({ status: 'error', error: what });
      }
      resolve({ status: 'ok', values: present(type, value) });
    });
  });
}

function present(type: QueryType, value: unknown): string[] {
  switch (type) {
    case 'A':
    case 'AAAA':
    case 'NS':
      return (value as string[]).map((v) => v.toLowerCase());
    case 'CNAME':
      return (value as string[]).map((v) => v.toLowerCase().replace(/\.?$/, '.'));
    case 'TXT':
      return (value as string[][]).map((chunks) => chunks.join(''));
    case 'MX':
      return (value as { priority: number; exchange: string }[]).map((m) => `${m.priority} ${m.exchange.toLowerCase().replace(/\.?$/, '.')}`);
    case 'SRV':
      return (value as { priority: number; weight: number; port: number; name: string }[]).map(
        (s) => `${s.priority} ${s.weight} ${s.port} ${s.name.toLowerCase().replace(/\.?$/, '.')}`,
      );
  }
}
