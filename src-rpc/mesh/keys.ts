// The key that encrypts backup files: data_path/secrets/mesh-backup.key (0600), a generated
// passphrase (age scrypt) or an age X25519 identity, by mesh.key_type. It is made on first use;
// `mesh key export` prints it for the node that will restore, `mesh key import` installs one.
import { join } from 'node:path';
import { Encrypter, Decrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { MailError } from '../core/errors.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { ensureDir, readText, writeAtomic } from '../sys/fs.ts';
import { randomSecret } from '../sys/crypto.ts';
import { sha256Hex } from '../sys/tree.ts';
import { parseKey, type BackupKey } from './key-format.ts';
import type { Settings } from '../config/settings.ts';

/**
 * scrypt work factor for our passphrases: 2^13, 8 MiB. age's default (2^18) costs 256 MiB, more
 * than a router has to spare, and 2^15 (32 MiB, used before) alone set a backup's peak memory
 * (measured, 1 GiB of mail, peak RSS in KiB: 101 344-118 676 at 2^15, 98 888-102 212 at 2^14,
 * 94 328-95 708 at 2^13; the goal is 100 MiB = 102 400 KiB). A generated passphrase has 256
 * bits, so no work factor is needed for strength, and an imported one must be long (see
 * key-format.ts). A backup records its own factor: older ones still open.
 */
const SCRYPT_LOG_N = 13;

const keyFile = (l: Layout) => join(l.secretsDir, 'mesh-backup.key');
/** The key an import replaced: older backups stay readable. */
const previousKeyFile = (l: Layout) => join(l.secretsDir, 'mesh-backup.key.previous');

function readKey(path: string): BackupKey | null {
  const text = readText(path);
  return text === null ? null : parseKey('mesh-backup.key', text);
}

export function loadBackupKey(l: Layout): BackupKey | null {
  return readKey(keyFile(l));
}

function saveKey(l: Layout, path: string, key: BackupKey): void {
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE });
  writeAtomic(path, `${key.secret}\n`, { mode: 0o600, uid: 0, gid: 0 });
}

/** The current key, made now by mesh.key_type when there is none (caller holds the write lock). */
export async function ensureBackupKey(s: Settings, l: Layout): Promise<BackupKey> {
  const current = loadBackupKey(l);
  if (current) return current;
  const key: BackupKey = s.mesh.keyType === 'x25519' ? { kind: 'x25519', secret: await generateIdentity() } : { kind: 'passphrase', secret: randomSecret(32) };
  saveKey(l, keyFile(l), key);
  return key;
}

export async function importBackupKey(l: Layout, key: BackupKey): Promise<void> {
  const current = loadBackupKey(l);
  if (current && current.secret !== key.secret) saveKey(l, previousKeyFile(l), current);
  saveKey(l, keyFile(l), key);
}

export async function describeKey(l: Layout) {
  const key = loadBackupKey(l);
  if (!key) return { kind: null, file: keyFile(l), recipient: null, fingerprint: null };
  return {
    kind: key.kind,
    file: keyFile(l),
    // Public: what another node's owner may be told; never the secret itself.
    recipient: key.kind === 'x25519' ? await identityToRecipient(key.secret) : null,
    fingerprint: sha256Hex(`mesh-backup-key\0${key.secret}`).slice(0, 16),
  };
}

export async function encrypterFor(key: BackupKey): Promise<Encrypter> {
  const e = new Encrypter();
  if (key.kind === 'x25519') {
    e.addRecipient(await identityToRecipient(key.secret));
  } else {
    e.setScryptWorkFactor(SCRYPT_LOG_N);
    e.setPassphrase(key.secret);
  }
  return e;
}

/** The current key and the one an import replaced, if any. */
export function decrypterFor(l: Layout): Decrypter {
  const keys = [loadBackupKey(l), readKey(previousKeyFile(l))].filter((k): k is BackupKey => k !== null);
  if (keys.length === 0) throw new MailError('not_found', `the backup is encrypted and this node has no backup key (${keyFile(l)}); import it with \`mailctl mesh key import\``, 'file');
  const d = new Decrypter();
  for (const k of keys) {
    if (k.kind === 'x25519') d.addIdentity(k.secret);
    else d.addPassphrase(k.secret);
  }
  return d;
}
