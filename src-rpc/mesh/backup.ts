// `mesh backup`: one file that makes this server again — UCI, accounts, rendered inputs, DKIM
// keys, certificates, secrets, mail — as a tar stream with a manifest, encrypted with age.
// Account files are read under the write lock (one consistent state); mail is streamed after
// it (maildir files never change in place), so memory stays flat whatever the mail weighs.
import { join, dirname, basename } from 'node:path';
import { createTarPacker, type TarHeader, type TarPackController } from 'modern-tar';
import { MailError } from '../core/errors.ts';
import { mailHost } from '../config/settings.ts';
import { ensureDir, exists, listDir, readBytes, rename, statOrNull, treeSize } from '../sys/fs.ts';
import { applyRetention, backupsDir } from './backup-files.ts';
import { walkTree, lstatEntry, readFileChunks, sha256Hash, sha256Hex, createFileSink, syncDirectory, type TreeEntry } from '../sys/tree.ts';
import { ensureBackupKey, encrypterFor } from './keys.ts';
import { DATA_FOLDERS, allowedLink, FORMAT_VERSION, HEADER_NAME, MANIFEST_NAME, UCI_ENTRY, backupFileName, type BackupHeader, type ManifestEntry } from './format.ts';
import { createManifestSpool, type ManifestSpool } from './manifest-spool.ts';
import { byteProgress, pump } from './streams.ts';
import { bufferReleaser } from '../sys/memory.ts';
import type { Context } from '../core/context.ts';
import type { Layout } from '../core/layout.ts';

export type Lock = <T>(fn: () => Promise<T> | T) => Promise<T>;

export interface BackupOptions {
  /** Where to write; default data_path/backups/ (and retention applies there). */
  output?: string;
  encrypt: boolean;
}

export interface BackupResult {
  file: string;
  bytes: number;
  files: number;
  encrypted: boolean;
  node: string;
  created: string;
  messages: Record<string, number>;
  /** Entries that are neither files nor folders (sockets, links): not backed up. */
  skipped: string[];
  /** Older backups removed by mesh.keep. */
  removed: string[];
}

export interface SmallFile {
  entry: ManifestEntry;
  bytes?: Buffer;
}

const asManifest = (archivePath: string, e: TreeEntry): ManifestEntry => ({
  path: archivePath,
  type: e.type === 'directory' || e.type === 'symlink' ? e.type : 'file',
  size: e.size,
  mode: e.mode,
  uid: e.uid,
  gid: e.gid,
  // tar keeps whole seconds
  mtimeMs: Math.floor(e.mtimeMs / 1000) * 1000,
  ...(e.target !== undefined ? { target: e.target } : {}),
});

/** config/, secrets/, ssl/ and the UCI file, read whole (they are small) while we hold the lock. */
export function readAccountFiles(l: Layout, skipped: string[]): SmallFile[] {
  const out: SmallFile[] = [];
  const uci = lstatEntry(dirname(l.uciFile), basename(l.uciFile));
  if (!uci || uci.type !== 'file') throw new MailError('not_found', `${l.uciFile} is missing`);
  out.push({ entry: { path: 'uci', type: 'directory', size: 0, mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 } });
  const uciBytes = readBytes(l.uciFile)!;
  out.push({ entry: { ...asManifest(UCI_ENTRY, { ...uci, size: uciBytes.length }), sha256: sha256Hex(uciBytes) }, bytes: uciBytes });
  const data = lstatEntry(l.dataPath, '.')!;
  out.push({ entry: asManifest('data', data) });
  for (const folder of DATA_FOLDERS.filter((f) => f !== 'mail')) {
    for (const e of walkTree(l.dataPath, folder)) {
      const name = `data/${e.path}`;
      if (e.type === 'other' || (e.type === 'symlink' && !allowedLink(name, e.target!))) {
        skipped.push(name);
      } else if (e.type === 'directory' || e.type === 'symlink') {
        out.push({ entry: asManifest(name, e) });
      } else {
        const bytes = readBytes(join(l.dataPath, e.path));
        if (!bytes) continue;
        out.push({ entry: { ...asManifest(name, { ...e, size: bytes.length }), sha256: sha256Hex(bytes) }, bytes });
      }
    }
  }
  return out;
}

async function addEntry(tar: TarPackController, entry: ManifestEntry, body: AsyncIterable<Uint8Array> | Uint8Array | null): Promise<void> {
  const header: TarHeader = { name: entry.path, type: entry.type, size: entry.size, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: new Date(entry.mtimeMs), ...(entry.target ? { linkname: entry.target } : {}) };
  const writer = tar.add(header).getWriter();
  try {
    if (body instanceof Uint8Array) await writer.write(body);
    else if (body) for await (const chunk of body) await writer.write(chunk);
    await writer.close();
  } catch (e) {
    await writer.abort(e).catch(() => {});
    throw e;
  }
}

/**
 * A maildir message vanished between the listing and the read: Dovecot renamed it (new/ → cur/,
 * or its flags changed). Its unique base name (before ':') finds it again; gone means expunged.
 */
function findRenamedMessage(l: Layout, e: TreeEntry): TreeEntry | null {
  const folder = dirname(dirname(e.path));
  const base = basename(e.path).split(':')[0]!;
  for (const sub of ['cur', 'new']) {
    const hit = listDir(join(l.dataPath, folder, sub)).find((n) => n === base || n.startsWith(`${base}:`));
    const found = hit ? lstatEntry(l.dataPath, `${folder}/${sub}/${hit}`) : null;
    if (found?.type === 'file') return found;
  }
  return null;
}

async function addMailFile(tar: TarPackController, l: Layout, e: TreeEntry, manifest: ManifestSpool, onBytes: (n: number) => void): Promise<void> {
  for (let attempt: TreeEntry | null = e; attempt; attempt = findRenamedMessage(l, attempt)) {
    const path = join(l.dataPath, attempt.path);
    // Open first: the entry's header must not be written for a file we cannot read.
    const chunks = readFileChunks(path, attempt.size);
    let first: IteratorResult<Uint8Array>;
    try {
      first = attempt.size > 0 ? await chunks.next() : { done: true, value: undefined };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const hash = sha256Hash();
    const entry = asManifest(`data/${attempt.path}`, attempt);
    async function* hashed() {
      if (!first.done) {
        hash.update(first.value);
        onBytes(first.value.length);
        yield first.value;
      }
      for await (const chunk of chunks) {
        hash.update(chunk);
        onBytes(chunk.length);
        yield chunk;
      }
    }
    await addEntry(tar, entry, hashed());
    await manifest.add({ ...entry, sha256: hash.digest('hex') });
    return;
  }
}

export async function createBackup(ctx: Context, opts: BackupOptions, lock: Lock): Promise<BackupResult> {
  const l = ctx.layout;
  const node = mailHost(ctx.settings);
  const createdAt = new Date();
  const header: BackupHeader = { format: FORMAT_VERSION, node, created: createdAt.toISOString() };
  const skipped: string[] = [];
  ctx.progress(1, 'reading accounts, keys and certificates');
  const { small, key } = await lock(async () => ({
    key: opts.encrypt ? await ensureBackupKey(ctx.settings, l) : null,
    small: readAccountFiles(l, skipped),
  }));

  const target = opts.output ?? join(backupsDir(l), backupFileName(node, createdAt, opts.encrypt));
  if (opts.output) {
    if (exists(target)) throw new MailError('exists', `${target} exists; name a new file`, 'output');
    if (!statOrNull(dirname(target))?.isDirectory()) throw new MailError('not_found', `${dirname(target)} is not a folder`, 'output');
  } else {
    ensureDir(backupsDir(l), { mode: 0o700 });
  }
  const temp = join(dirname(target), `.tmp-${basename(target)}.${process.pid}`);

  const smallBytes = small.reduce((n, f) => n + (f.bytes?.length ?? 0), 0);
  const total = smallBytes + treeSize(join(l.dataPath, 'mail'));
  const progress = byteProgress(total, (done, text) => ctx.progress(2 + 96 * (done / Math.max(1, total)), text));

  const { readable, controller: tar } = createTarPacker();
  const output = key ? await (await encrypterFor(key)).encrypt(readable) : readable;
  const manifest = await createManifestSpool(`${temp}.manifest`, header);
  const sink = await createFileSink(temp, 0o600).catch(async (e: unknown) => {
    await manifest.discard();
    throw e;
  });
  const written = pump(output, sink);
  const release = bufferReleaser();
  const generated = (name: string, size: number): ManifestEntry => ({ path: name, type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtimeMs: createdAt.getTime() });
  try {
    const headerBytes = Buffer.from(`${JSON.stringify(header)}\n`);
    await addEntry(tar, generated(HEADER_NAME, headerBytes.length), headerBytes);
    for (const f of small) {
      await addEntry(tar, f.entry, f.bytes ?? null);
      if (f.bytes) progress.add(f.bytes.length);
      await manifest.add(f.entry);
    }
    for (const e of walkTree(l.dataPath, 'mail')) {
      const name = `data/${e.path}`;
      if (e.type === 'other' || e.type === 'symlink') {
        skipped.push(name);
      } else if (e.type === 'directory') {
        const entry = asManifest(name, e);
        await addEntry(tar, entry, null);
        await manifest.add(entry);
      } else {
        await addMailFile(tar, l, e, manifest, (n) => {
          progress.add(n);
          release(n);
        });
      }
    }
    const listing = await manifest.close();
    await addEntry(tar, generated(MANIFEST_NAME, listing.size), listing.bytes);
    tar.finalize();
    const bytes = await written;
    await sink.finish();
    await manifest.discard();
    rename(temp, target);
    syncDirectory(dirname(target));
    const removed = opts.output ? [] : applyRetention(l, ctx.settings.mesh.keep);
    return { file: target, bytes, files: manifest.files, encrypted: key !== null, node, created: header.created, messages: manifest.messages, skipped, removed };
  } catch (e) {
    tar.error(e);
    await written.catch(() => {});
    await sink.abort();
    await manifest.discard();
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new MailError('daemon_error', `no space left for the backup in ${dirname(target)}`, 'output');
    throw e;
  }
}
