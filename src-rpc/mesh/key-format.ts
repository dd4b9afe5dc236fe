// What a backup key looks like: an age X25519 identity, or a long passphrase. Kept apart from
// keys.ts so the method table can validate an import without loading the age library.
import { MailError } from '../core/errors.ts';

export type BackupKeyKind = 'passphrase' | 'x25519';

export interface BackupKey {
  kind: BackupKeyKind;
  secret: string;
}

/** age's scrypt stretches it, but an offline attacker with the file can still guess a short one. */
const MIN_PASSPHRASE = 16;

export function parseKey(field: string, value: unknown): BackupKey {
  if (typeof value !== 'string') throw new MailError('invalid_argument', 'must be a string', field);
  const secret = value.trim();
  if (secret.startsWith('AGE-SECRET-KEY-1')) {
    if (!/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/.test(secret)) throw new MailError('invalid_argument', 'is not a valid age X25519 identity', field);
    return { kind: 'x25519', secret };
  }
  if (secret.length < MIN_PASSPHRASE || secret.length > 1024 || /[\0-\x1f\x7f]/.test(secret)) {
    throw new MailError('invalid_argument', `must be an age identity (AGE-SECRET-KEY-1...) or a passphrase of ${MIN_PASSPHRASE} to 1024 printable characters`, field);
  }
  return { kind: 'passphrase', secret };
}
