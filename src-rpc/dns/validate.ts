// Validators for the DNS and DKIM options and arguments (the `dns` section, main.public_ip,
// TSIG keys). Same contract as config/validate.ts: the normalised value, or ValidationError.
import { isIP } from '../sys/ip.ts';
import { ValidationError, ipAddress, domainName, integer } from '../config/validate.ts';
import type { DkimAlgorithm } from '../config/settings.ts';

const fail = (field: string, message: string): never => {
  throw new ValidationError(field, message);
};

const show = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** A DKIM selector: one DNS label (letters, digits, '-'), lower case, at most 40 characters. */
export function dkimSelector(field: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') return fail(field, 'a DKIM selector is required');
  const s = v.toLowerCase();
  if (!/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/.test(s)) {
    return fail(field, `${show(v)} is not a DKIM selector: use letters a-z, digits and '-' (not at the ends), at most 40`);
  }
  return s;
}

/** `rsa`, `ed25519` or both, space separated (RSA first when both: every verifier knows it). */
export function dkimAlgorithms(field: string, v: unknown): DkimAlgorithm[] {
  if (typeof v !== 'string') return fail(field, 'expected rsa, ed25519 or "rsa ed25519"');
  const words = v.split(/[\s,]+/).filter((w) => w !== '');
  const out: DkimAlgorithm[] = [];
  for (const w of words) {
    if (w !== 'rsa' && w !== 'ed25519') return fail(field, `${show(w)} is not a DKIM algorithm (rsa or ed25519)`);
    if (!out.includes(w)) out.push(w);
  }
  if (out.length === 0) return fail(field, 'name at least one DKIM algorithm (rsa, ed25519)');
  return out.sort((a) => (a === 'rsa' ? -1 : 1));
}

/** SPF's final mechanism: -all (fail), ~all (softfail), ?all (neutral). +all would authorise the world. */
export function spfPolicy(field: string, v: unknown): string {
  if (v === '-all' || v === '~all' || v === '?all') return v;
  return fail(field, `expected -all, ~all or ?all, got ${typeof v === 'string' ? show(v) : 'nothing'}`);
}

/** main.public_ip / public_ip6: an address of that family (private ones are reported later, not refused here). */
export function publicAddress(field: string, v: unknown, family: 4 | 6): string {
  const a = ipAddress(field, v);
  if (isIP(a) !== family) fail(field, `${show(a)} is not an IPv${family} address`);
  return a;
}

/** `host`, `ip`, `host:port`, `ip:port`, `[ipv6]:port`; a resolver must be an address. */
export function serverAddress(field: string, v: unknown, hostAllowed: boolean): string {
  if (typeof v !== 'string' || v === '') return fail(field, 'a server address is required');
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)|([0-9a-fA-F:]+))(?::([0-9]{1,5}))?$/.exec(v);
  const bare = isIP(v) === 6 ? v : null;
  const host = bare ?? m?.[1] ?? m?.[2] ?? m?.[3];
  if (!host) return fail(field, `${show(v)} is not a server: use an address or name, optionally with :port`);
  const port = bare ? undefined : m?.[4];
  let name: string;
  if (isIP(host)) name = ipAddress(field, host);
  else if (!hostAllowed) return fail(field, `${show(host)} must be an IP address`);
  else name = domainName(field, host);
  const p = port === undefined ? '' : `:${integer(field, port, 1, 65535)}`;
  return isIP(name) === 6 && p ? `[${name}]${p}` : `${name}${p}`;
}

export function splitServer(server: string, defaultPort = 53): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(server) ?? (isIP(server) === 6 ? null : /^([^:]+):([0-9]+)$/.exec(server));
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: server, port: defaultPort };
}

export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512', 'hmac-sha224', 'hmac-sha1', 'hmac-md5'] as const;
export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number];

/** A TSIG key name: a DNS name (one label allowed, as tsig-keygen makes them). */
export function tsigName(field: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}))*\.?$/.test(v) || v.length > 253) {
    return fail(field, `${typeof v === 'string' ? show(v) : 'nothing'} is not a TSIG key name (letters, digits, '-', '_', dots)`);
  }
  return v.replace(/\.$/, '').toLowerCase();
}

/** The shared secret: base64 of at least 16 bytes. Never shown in messages. */
export function tsigSecret(field: string, v: unknown): string {
  if (typeof v !== 'string') return fail(field, 'a TSIG secret (base64) is required');
  const s = v.trim();
  if (s.length > 684) return fail(field, 'the TSIG secret is too long (at most 512 bytes)');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s) || s === '') {
    return fail(field, 'the TSIG secret is not base64 (as tsig-keygen prints it)');
  }
  if (Buffer.from(s, 'base64').length < 16) return fail(field, 'the TSIG secret is too short (at least 16 bytes)');
  return s;
}
