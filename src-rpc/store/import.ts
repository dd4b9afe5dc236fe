// A list of mailboxes to import, as CSV (`address,password-or-hash,quota`, an optional header
// line, RFC 4180 quoting) or JSON lines (`{"address", "password" | "hash", "quota"}`). Pure: every
// line is checked before anything is written, and an error names its line, never a password.
import { MailError } from '../core/errors.ts';
import * as v from '../config/validate.ts';

export interface ImportRow {
  email: string;
  /** Exactly one of password and hash. */
  password?: string;
  /** "{SHA512-CRYPT}$6$..." as the users file keeps it. */
  hash?: string;
  /** Bytes; null = features.quota_default. */
  quota: number | null;
}

/** At most this many mailboxes per import: the whole list is held and checked in memory. */
export const IMPORT_MAX_ROWS = 100_000;

const SHA512_CRYPT = /^(\{SHA512-CRYPT\})?\$6\$(rounds=[0-9]{4,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/;

/** One CSV record of a line (no field spans lines: a password never holds a newline). */
function csvFields(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return null;
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') return null;
    } else {
      const comma = line.indexOf(',', i);
      field = line.slice(i, comma < 0 ? line.length : comma);
      i = comma < 0 ? line.length : comma;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // the comma
  }
}

function rowFrom(n: number, address: unknown, secret: { password?: unknown; hash?: unknown }, quota: unknown): ImportRow {
  const at = (e: unknown): never => {
    throw new MailError('invalid_argument', `line ${n}: ${e instanceof Error ? e.message : String(e)}`, 'data');
  };
  try {
    const email = v.ownAddress('address', address);
    const q = quota === undefined || quota === null || quota === '' ? null : v.size('quota', quota);
    if (typeof secret.hash === 'string' && secret.password === undefined) {
      if (!SHA512_CRYPT.test(secret.hash)) at('hash is not a SHA512-CRYPT hash ($6$...)');
      return { email, hash: secret.hash.startsWith('{') ? secret.hash : `{SHA512-CRYPT}${secret.hash}`, quota: q };
    }
    if (secret.hash !== undefined) at('give a password or a hash, not both');
    return { email, password: v.password('password', secret.password), quota: q };
  } catch (e) {
    if (e instanceof MailError) throw e;
    return at(e);
  }
}

/** CSV or JSON lines (told apart by the first line's first character) → checked rows. */
export function parseImport(text: string): ImportRow[] {
  const lines = text.split(/\r?\n/);
  const rows: ImportRow[] = [];
  const seen = new Set<string>();
  const jsonLines = (lines.find((l) => l.trim() !== '') ?? '').trimStart().startsWith('{');
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '' || (!jsonLines && raw.startsWith('#'))) return;
    let row: ImportRow;
    if (jsonLines) {
      let o: unknown;
      try {
        o = JSON.parse(raw);
      } catch {
        throw new MailError('invalid_argument', `line ${n}: not a JSON object`, 'data');
      }
      if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new MailError('invalid_argument', `line ${n}: not a JSON object`, 'data');
      const r = o as Record<string, unknown>;
      const unknown = Object.keys(r).filter((k) => !['address', 'email', 'password', 'hash', 'quota'].includes(k));
      if (unknown.length) throw new MailError('invalid_argument', `line ${n}: unknown key ${JSON.stringify(unknown[0]!.slice(0, 32))}`, 'data');
      row = rowFrom(n, r.address ?? r.email, { password: r.password, hash: r.hash }, r.quota);
    } else {
      const f = csvFields(raw);
      if (!f || f.length < 2 || f.length > 3) throw new MailError('invalid_argument', `line ${n}: expected address,password-or-hash[,quota]`, 'data');
      if (rows.length === 0 && seen.size === 0 && /^(address|email)$/i.test(f[0]!.trim())) return; // a header
      const secret = SHA512_CRYPT.test(f[1]!) ? { hash: f[1] } : { password: f[1] };
      row = rowFrom(n, f[0]!.trim(), secret, f[2]?.trim());
    }
    if (seen.has(row.email)) throw new MailError('invalid_argument', `line ${n}: ${row.email} is listed twice`, 'data');
    seen.add(row.email);
    rows.push(row);
    if (rows.length > IMPORT_MAX_ROWS) throw new MailError('invalid_argument', `more than ${IMPORT_MAX_ROWS} mailboxes: split the list`, 'data');
  });
  if (rows.length === 0) throw new MailError('invalid_argument', 'no mailbox in the list', 'data');
  return rows;
}
