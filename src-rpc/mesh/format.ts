// The backup file's format: a tar stream whose first entry says what it is (BACKUP.json) and
// whose last entry lists every other entry with its SHA-256 (MANIFEST.json), usually wrapped
// in age. Pure rules; reading and writing are backup.ts and restore.ts.
import { MailError } from '../core/errors.ts';

/** Bumped when an older mailctl could no longer restore what a newer one writes. */
export const FORMAT_VERSION = 1;
export const HEADER_NAME = 'BACKUP.json';
export const MANIFEST_NAME = 'MANIFEST.json';
export const UCI_ENTRY = 'uci/mailserver';
/** data_path folders that make this server (state/ is caches and the queue, rebuilt at start). */
export const DATA_FOLDERS = ['config', 'secrets', 'ssl', 'mail'] as const;
export const AGE_MAGIC = 'age-encryption.org/v1\n';

export interface BackupHeader {
  format: number;
  /** The mail host (FQDN) of the node that made it. */
  node: string;
  created: string;
}

export type EntryType = 'file' | 'directory' | 'symlink';

export interface ManifestEntry {
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  /** Files only. */
  sha256?: string;
  /** Links only. */
  target?: string;
}

export interface Manifest extends BackupHeader {
  entries: ManifestEntry[];
  /** Messages per mailbox (files in cur/ and new/ of every folder), for the restore self-check. */
  messages: Record<string, number>;
}

const refuse = (reason: string) => new MailError('invalid_argument', `the backup is refused: ${reason}`, 'file');

/** The only names a backup may hold: anything else is refused before a byte is written. */
export function checkEntryName(name: string): void {
  if (name.startsWith('/')) throw refuse(`absolute path ${JSON.stringify(name)}`);
  if (/[\0\\]/.test(name)) throw refuse(`unexpected character in ${JSON.stringify(name)}`);
  const parts = name.replace(/\/$/, '').split('/');
  if (parts.some((p) => p === '..' || p === '.' || p === '')) throw refuse(`path ${JSON.stringify(name)} leaves its folder or is not normalised`);
  if (name === HEADER_NAME || name === MANIFEST_NAME || name === UCI_ENTRY) return;
  if (parts[0] === 'uci' && parts.length === 1) return;
  if (parts[0] === 'data' && (parts.length === 1 || (DATA_FOLDERS as readonly string[]).includes(parts[1]!))) return;
  throw refuse(`unknown entry ${JSON.stringify(name)}`);
}

/**
 * The certificate's own links (ssl/files.ts: fullchain.pem -> live/fullchain.pem, privkey.pem ->
 * live/privkey.pem, live -> gen/<id>) are the only links a backup may hold; they stay inside ssl/.
 */
export function allowedLink(name: string, target: string): boolean {
  if (name === 'data/ssl/fullchain.pem') return target === 'live/fullchain.pem';
  if (name === 'data/ssl/privkey.pem') return target === 'live/privkey.pem';
  if (name === 'data/ssl/live') return /^gen\/[A-Za-z0-9_-]+$/.test(target);
  return false;
}

export function checkEntryType(name: string, type: string | undefined, target: string | undefined): EntryType {
  if (type === 'file' || type === 'directory') return type;
  if (type === 'symlink' && allowedLink(name, target ?? '')) return type;
  throw refuse(`${JSON.stringify(name)} is a ${type ?? 'entry of unknown type'}${target ? ` to ${JSON.stringify(target)}` : ''} (only files, folders and the certificate's own links are restored)`);
}

export function parseHeader(text: string): BackupHeader {
  let h: Partial<BackupHeader>;
  try {
    h = JSON.parse(text) as Partial<BackupHeader>;
  } catch {
    throw refuse(`${HEADER_NAME} is not JSON`);
  }
  if (typeof h.format !== 'number' || typeof h.node !== 'string' || typeof h.created !== 'string') throw refuse(`${HEADER_NAME} lacks format, node or created`);
  if (h.format > FORMAT_VERSION) throw refuse(`format ${h.format} is newer than this mailctl reads (${FORMAT_VERSION}); update mailctl first`);
  if (h.format < 1) throw refuse(`unknown format ${h.format}`);
  return h as BackupHeader;
}

export function parseManifest(text: string, header: BackupHeader): Manifest {
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(text) as Partial<Manifest>;
  } catch {
    throw refuse(`${MANIFEST_NAME} is not JSON`);
  }
  if (!Array.isArray(m.entries) || typeof m.messages !== 'object' || m.messages === null) throw refuse(`${MANIFEST_NAME} lacks entries or messages`);
  if (m.format !== header.format || m.node !== header.node || m.created !== header.created) throw refuse(`${MANIFEST_NAME} does not belong to ${HEADER_NAME}`);
  return m as Manifest;
}

/** The tar entry must be what the manifest says, bit for bit. */
export function sameEntry(seen: ManifestEntry, listed: ManifestEntry | undefined): string | null {
  if (!listed) return `${seen.path} is not in the manifest`;
  for (const key of ['type', 'size', 'mode', 'uid', 'gid', 'sha256', 'target'] as const) {
    if (seen[key] !== listed[key]) return `${seen.path}: ${key} differs from the manifest (checksum or header damaged)`;
  }
  return null;
}

/** `mailserver-<node>-<UTC stamp>.tar.age` (or `.tar` with --no-encrypt); sorting names sorts by date.
 *  The stamp keeps milliseconds: two backups within one second must not share a name. */
export function backupFileName(node: string, date: Date, encrypted: boolean): string {
  const stamp = date.toISOString().replace(/[-:]/g, '');
  return `mailserver-${node}-${stamp}.tar${encrypted ? '.age' : ''}`;
}

/** A backup name's UTC stamp; names written before milliseconds were kept (`...T093810Z`) still count. */
export const BACKUP_STAMP = String.raw`\d{8}T\d{6}(?:\.\d{3})?Z`;
export const BACKUP_FILE_PATTERN = new RegExp(String.raw`^mailserver-[A-Za-z0-9.-]+-${BACKUP_STAMP}\.tar(\.age)?$`);

/** Maildir message files: <mail>/<domain>/<user>/[.<folder>/](cur|new)/<name>. */
export function mailboxOfMessage(path: string): string | null {
  const m = /^data\/mail\/([^/]+)\/([^/]+)\/(?:\.[^/]+\/)?(?:cur|new)\/[^/]+$/.exec(path);
  return m ? `${m[2]}@${m[1]}` : null;
}
