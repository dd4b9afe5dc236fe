// Validators run at every door (CLI, rpcd) before any handler: each returns the normalised value
// or throws ValidationError. Values end up in main.cf, dovecot.conf, passwd-file lines, postfix
// maps, UCI and argv, so the accepted sets are deliberately narrower than the RFCs where a wider
// set would mean something to one of those formats.
//
// Messages are read by router owners (CLI output, LuCI toasts): short, plain words, never the
// password, and user input only ever shown through show() (truncated, control chars escaped).

import { isIP } from '../sys/ip.ts';
import { domainToASCII } from 'node:url';

/** A bad argument. `field` names the argument; doors show it next to `message`. */
export class ValidationError extends Error {
  readonly field: string;
  readonly code: string = 'invalid_argument';
  constructor(field: string, message: string) {
    super(message);
    this.name = 'ValidationError';
    this.field = field;
  }
}

function fail(field: string, message: string): never {
  throw new ValidationError(field, message);
}

const SHOW_MAX = 40;

/** Quote user input for a message: at most SHOW_MAX characters, invisible characters escaped. */
function show(s: string): string {
  const chars = [...s.slice(0, SHOW_MAX * 2)];
  const body = chars.slice(0, SHOW_MAX).join('').replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}"\\]/gu, (c) => {
    if (c === '"' || c === '\\') return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`;
  });
  return `"${body}${chars.length > SHOW_MAX ? '…' : ''}"`;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'boolean') return 'true/false';
  return `a ${typeof v}`;
}

function text(field: string, v: unknown, what: string, max: number): string {
  if (typeof v !== 'string') fail(field, `expected ${what}, got ${describe(v)}`);
  if (v === '') fail(field, `${what} is required`);
  if (v.length > max) fail(field, `too long (${v.length} characters, at most ${max})`);
  return v;
}

// ---- names and addresses ----

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

function label(field: string, name: string, l: string): void {
  if (l === '') fail(field, `${show(name)} has an empty part (two dots in a row, or a dot at the start)`);
  if (l.length > 63) fail(field, `${show(name)} has a part longer than 63 characters`);
  if (!LABEL_RE.test(l)) {
    fail(field, `${show(name)} is not a valid name: use letters a-z, digits and '-' (not at the start or end of a part)`);
  }
}

export function domainName(field: string, v: unknown): string {
  let s = text(field, v, 'a domain name', 254);
  if (/[^\x00-\x7f]/.test(s)) {
    // Postfix and Dovecot compare names byte for byte, so only the ASCII (xn--) form is stored.
    const ascii = domainToASCII(s);
    const hint = ascii && ascii.length <= 80 ? ` (${show(ascii)})` : '';
    fail(field, `${show(s)} has non-ASCII letters: write international names in their xn-- form${hint}`);
  }
  s = s.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1); // absolute form "example.com." means the same name
  if (s.length > 253) fail(field, `too long (${s.length} characters, at most 253)`);
  const labels = s.split('.');
  if (labels.length < 2) fail(field, `${show(s)} is not a full domain name (like example.com)`);
  for (const l of labels) label(field, s, l);
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    fail(field, `${show(s)} is not a domain name (the last part cannot be all digits)`);
  }
  return s;
}

export function hostLabelOrFqdn(field: string, v: unknown): string {
  const s = text(field, v, 'a host name', 254);
  if (s.includes('.') || /[^\x00-\x7f]/.test(s)) return domainName(field, s);
  const l = s.toLowerCase();
  label(field, l, l);
  return l;
}

// RFC 5322 atext minus '/' (local parts become maildir directory names).
const ATOM = "[a-z0-9!#$%&'*+=?^_`{|}~-]+";
const LOCAL_RE = new RegExp(`^${ATOM}(?:\\.${ATOM})*$`);

export function localPart(field: string, v: unknown): string {
  const s = text(field, v, 'a mailbox name', 64).toLowerCase();
  if (!LOCAL_RE.test(s)) {
    fail(field, `${show(s)} is not a valid mailbox name: use letters, digits and . _ - + (no spaces, quotes, ':' or '/'; dots not doubled or at the ends)`);
  }
  // Both are legal RFC 5322 but a leading '#' makes the passwd-file and map line a comment, and a
  // leading '-' turns the address into an option when passed in argv to postfix/doveadm tools.
  if (s.startsWith('#') || s.startsWith('-')) fail(field, `${show(s)} must not start with '${s[0]}'`);
  return s;
}

export function emailAddress(field: string, v: unknown): string {
  const s = text(field, v, 'an email address', 254);
  const parts = s.split('@');
  if (parts.length !== 2) fail(field, `${show(s)} is not an email address (like user@example.com)`);
  return `${localPart(field, parts[0])}@${domainName(field, parts[1])}`;
}

// Our own mailbox and alias names become directory names and turn up in logs, scripts and
// shells: keep them to what every client and tool handles. ('+' is Postfix's recipient
// delimiter, so user+tag@ already reaches user@.) Outside addresses (alias targets) may use
// all of RFC 5322's atext.
const OWN_LOCAL_RE = /^[a-z0-9_](?:[a-z0-9_-]|\.(?!\.))*$/;

export function ownAddress(field: string, v: unknown): string {
  const address = emailAddress(field, v);
  const local = address.slice(0, address.lastIndexOf('@'));
  if (!OWN_LOCAL_RE.test(local) || local.endsWith('.')) {
    fail(field, `${show(local)} is not a valid name for a mailbox here: use letters, digits and . _ - (not at the start or end)`);
  }
  return address;
}

/** One of our addresses, or "@domain" for a catch-all alias. */
export function aliasSource(field: string, v: unknown): string {
  const s = text(field, v, 'an email address or @domain', 254);
  return s.startsWith('@') ? `@${domainName(field, s.slice(1))}` : ownAddress(field, s);
}

// ---- secrets ----

/** Never put the value in a message: it is somebody's password, even when it is wrong. */
export function password(field: string, v: unknown): string {
  if (typeof v !== 'string') fail(field, `expected a password, got ${describe(v)}`);
  // 1024 characters are at most 2048 UTF-16 units; checking that first keeps huge input cheap.
  const n = v.length > 2048 ? v.length : [...v].length;
  if (n < 8) fail(field, 'password is too short (at least 8 characters)');
  if (n > 1024) fail(field, 'password is too long (at most 1024 characters)');
  // Control characters and line separators break passwd-file lines and most login forms. Format
  // characters (\p{Cf}) stay allowed: emoji sequences and some keyboard layouts produce them.
  if (/[\p{Cc}\p{Zl}\p{Zp}]/u.test(v)) fail(field, 'password must not contain control characters (newline, tab, ...)');
  // A lone surrogate would be hashed as U+FFFD, silently matching other passwords.
  if (/\p{Cs}/u.test(v)) fail(field, 'password contains an invalid character');
  return v;
}

// ---- numbers ----

export function integer(field: string, v: unknown, min: number, max: number): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^-?[0-9]{1,16}$/.test(v)) n = Number(v);
  else fail(field, `expected a whole number from ${min} to ${max}, got ${typeof v === 'string' ? show(v) : describe(v)}`);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(field, `${typeof v === 'string' ? show(v) : String(n)} is not a whole number from ${min} to ${max}`);
  }
  return n === 0 ? 0 : n; // no -0
}

/** 0 turns the service off. */
export function port(field: string, v: unknown): number {
  return integer(field, v, 0, 65535);
}

const UNITS = ['', 'K', 'M', 'G', 'T'] as const;

/** Bytes; units are binary (1K = 1024), as in Dovecot quotas. 0 means unlimited. */
export function size(field: string, v: unknown): number {
  const usage = 'use bytes or a number with K, M, G or T (e.g. 512M, 1.5G; 0 = unlimited)';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) fail(field, `${v} is not a size: ${usage}`);
    return v === 0 ? 0 : v; // no -0
  }
  const s = text(field, v, 'a size', 32);
  // A fraction only makes sense with a unit: there are no half bytes.
  const m = /^([0-9]{1,16})(?:\.([0-9]{1,6}))?([kmgt])?$/i.exec(s);
  if (!m || (m[2] !== undefined && m[3] === undefined)) fail(field, `${show(s)} is not a size: ${usage}`);
  const unit = UNITS.indexOf((m[3] ?? '').toUpperCase() as (typeof UNITS)[number]);
  const bytes = Math.round(Number(`${m[1]}.${m[2] ?? '0'}`) * 1024 ** unit);
  if (!Number.isSafeInteger(bytes)) fail(field, `${show(s)} is too large`);
  return bytes;
}

/** For display: the largest unit that divides exactly (1073741824 -> "1G"), else plain bytes. */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) return String(bytes);
  for (let u = UNITS.length - 1; u > 0; u--) {
    const d = 1024 ** u;
    if (bytes % d === 0) return `${bytes / d}${UNITS[u]}`;
  }
  return String(bytes);
}

/** A size for people, as `du -h` prints it: 0, 512, 1.2K, 35M, 2.0G. */
export function roughSize(bytes: number): string {
  let u = 0;
  let n = bytes;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? String(n) : `${n < 10 ? n.toFixed(1) : Math.round(n)}${UNITS[u]}`;
}

// ---- network ----

export function ipAddress(field: string, v: unknown): string {
  const s = text(field, v, 'an IP address', 45);
  const family = isIP(s);
  if (family === 4) {
    // Leading zeros read as octal in some tools ("010" = 8): accept only the plain form.
    if (s.split('.').map(Number).join('.') === s) return s;
  } else if (family === 6 && !s.includes('%')) {
    // The URL parser prints IPv6 in its canonical form (lowercase, longest zero run as ::).
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  }
  return fail(field, `${show(s)} is not an IP address`);
}

/** An address or a network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`), canonical. */
export function ipNetwork(field: string, v: unknown): string {
  const s = text(field, v, 'an IP address or network', 49);
  const slash = s.indexOf('/');
  if (slash < 0) return ipAddress(field, s);
  const address = ipAddress(field, s.slice(0, slash));
  const bits = s.slice(slash + 1);
  const max = isIP(address) === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) return fail(field, `${show(s)}: the prefix length must be 0-${max}`);
  return `${address}/${Number(bits)}`;
}

/**
 * Postfix relayhost: host, host:port, [host] or [host]:port. Brackets turn off MX lookups and are
 * kept as given; an IP address always gets them, since Postfix requires [] around addresses.
 */
export function relayHost(field: string, v: unknown): string {
  const s = text(field, v, 'a relay host', 300);
  const m = /^(?:\[([^[\]]+)\]|([^[\]:]+))(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) {
    if (isIP(s) === 6) fail(field, `put an IPv6 relay host in brackets, like [${s}]`);
    fail(field, `${show(s)} is not a relay host: use host, host:port, [host] or [host]:port`);
  }
  const raw = (m[1] ?? m[2])!;
  const host = isIP(raw) ? ipAddress(field, raw) : hostLabelOrFqdn(field, raw);
  const bracket = m[1] !== undefined || isIP(host) !== 0;
  const p = m[3] === undefined ? '' : `:${integer(field, m[3], 1, 65535)}`;
  return `${bracket ? `[${host}]` : host}${p}`;
}

// ---- paths ----

// Paths land in main.cf, dovecot.conf (mail_location) and UCI, where whitespace, ',', ':', '%',
// '$' and quotes all carry meaning; ordinary directory names need none of them.
const SEGMENT_RE = /^[A-Za-z0-9._@+-]+$/;

export function absolutePath(field: string, v: unknown): string {
  const s = text(field, v, 'a path', 1024);
  if (!s.startsWith('/')) fail(field, `${show(s)} must be an absolute path (starting with /)`);
  const parts = s.split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) {
    if (p === '..') fail(field, `${show(s)} must not contain '..'`);
    if (!SEGMENT_RE.test(p)) {
      fail(field, `${show(s)} has characters not allowed in a path here: use letters, digits and . _ - + @`);
    }
  }
  return `/${parts.join('/')}`;
}

// ---- choices ----

const TRUE = ['1', 'yes', 'on', 'true'];
const FALSE = ['0', 'no', 'off', 'false'];

export function boolean(field: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (TRUE.includes(s)) return true;
    if (FALSE.includes(s)) return false;
  }
  return fail(field, `expected yes or no (also 1/0, on/off, true/false), got ${typeof v === 'string' ? show(v) : describe(v)}`);
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  return fail(field, `expected one of ${allowed.join(', ')}, got ${typeof v === 'string' ? show(v) : describe(v)}`);
}

// ---- mesh peers ----

const PEER_HOST = String.raw`(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)`;
const SFTP_PEER_RE = new RegExp(String.raw`^(?:[a-z_][a-z0-9_-]{0,31}@)?${PEER_HOST}(?::\d{1,5})?$`);
const REST_PEER_RE = new RegExp(String.raw`^rest:https?://${PEER_HOST}(?::\d{1,5})?(?:/[A-Za-z0-9._~/-]*)?$`);

/**
 * A mesh backup peer as UCI stores it (mesh.backup_peers): `[user@]host[:port]` (SFTP), a restic
 * REST URL `rest:http(s)://host[:port]/path` (no credentials: they are secrets), or a SecuBox
 * p2p peer id (host-name syntax, resolved through secubox-p2p). No spaces or quotes, ever.
 */
export function meshPeer(field: string, v: unknown): string {
  const s = text(field, v, 'a mesh peer', 300);
  if (/[\s'"\\`$;]/.test(s)) fail(field, `${show(s)} must not contain spaces, quotes or shell characters`);
  if (SFTP_PEER_RE.test(s) || REST_PEER_RE.test(s)) {
    const port = /:(\d+)(?:\/|$)/.exec(s.replace(/^rest:https?:\/\//, '//'))?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) fail(field, `${show(s)} has a port outside 1-65535`);
    return s;
  }
  fail(field, `${show(s)} is not a peer: use [user@]host[:port], rest:https://host[:port]/path or a secubox-p2p peer id`);
}

/** An http(s) URL without credentials in it (they would end up in logs and UCI); its canonical form. */
export function httpUrl(field: string, value: string, problem: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || /[\s\0-\x1f]/.test(value) || value.length > 512) {
    throw new ValidationError(field, problem);
  }
  return url.href;
}
