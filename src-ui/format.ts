// Words and numbers for people: sizes, counts, dates, password strength.
import type { Overview } from './types.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number): string {
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 || n >= 100 ? Math.round(n) : n.toFixed(1).replace(/\.0$/, '')} ${UNITS[u]}`;
}

/** A mailbox quota as user_list reports it: null = the default, 0 = unlimited. */
export function quota(q: number | null): string {
  return q === null ? 'default' : q === 0 ? 'unlimited' : bytes(q);
}

/** The server's quota settings (overview.quota): what "default" means. */
type QuotaSettings = Overview['quota'];

/** The limit a mailbox lives under: 0 = none, null = not known (the settings are not loaded). */
export function quotaLimit(q: number | null, server: QuotaSettings | undefined): number | null {
  if (!server) return q;
  if (!server.enabled) return 0;
  return q ?? server.default;
}

/** What an empty quota field means, for the form's hint. */
export function defaultQuota(server: QuotaSettings | undefined): string {
  return server ? `server default (${server.default ? bytes(server.default) : 'unlimited'})` : "the server's default";
}

/** A size as the backend takes it back: 2G rather than 2147483648. */
export function sizeArg(n: number): string {
  for (let u = 4; u > 0; u--) if (n && n % 1024 ** u === 0) return `${n / 1024 ** u}${'BKMGT'[u]}`;
  return String(n);
}

export function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export function date(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/**
 * A rough strength hint (the backend only insists on 8+ characters): length counts most,
 * character classes a little, and repeated or sequential filler counts for nothing.
 */
export function strength(pw: string): { level: 0 | 1 | 2 | 3 | 4; text: string } {
  if (!pw) return { level: 0, text: 'at least 8 characters; a few random words make a strong one' };
  const chars = [...pw];
  if (chars.length < 8) return { level: 0, text: `too short: ${8 - chars.length} more character${chars.length === 7 ? '' : 's'} needed` };
  const distinct = new Set(chars).size;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(pw)).length;
  const score = Math.min(distinct, chars.length) + classes * 2 + (chars.length >= 16 ? 6 : chars.length >= 12 ? 3 : 0);
  if (distinct < 5 || /^(?:password|passwort|123456|qwerty|azerty|letmein)/i.test(pw)) return { level: 1, text: 'weak: easy to guess' };
  if (score < 14) return { level: 1, text: 'weak: make it longer' };
  if (score < 18) return { level: 2, text: 'fair: longer is better' };
  if (score < 24) return { level: 3, text: 'good' };
  return { level: 4, text: 'strong' };
}
