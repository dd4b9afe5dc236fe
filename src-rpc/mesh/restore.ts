// `mesh restore FILE`: the whole archive is decrypted and checked first (format, every name,
// every checksum against the manifest) without writing a byte; then it is read again into a
// staging folder inside data_path (checked again as it lands), and only then are the daemons
// stopped, the folders swapped (swap.ts), the configuration converged and the daemons started.
import { join, dirname } from 'node:path';
import { createTarDecoder, type ParsedTarEntry } from 'modern-tar';
import { MailError } from '../core/errors.ts';
import { loadContext, type Context } from '../core/context.ts';
import { ensureDir, exists, readText, removeTree, statOrNull, readBytes } from '../sys/fs.ts';
import { fileStream, fileSize, sha256Hash, createFileSink, makeDirectory, makeSymlink, setOwnership, readFilePrefix } from '../sys/tree.ts';
import { decrypterFor } from './keys.ts';
import { AGE_MAGIC, DATA_FOLDERS, HEADER_NAME, MANIFEST_NAME, UCI_ENTRY, checkEntryName, checkEntryType, parseHeader, parseManifest, sameEntry, type BackupHeader, type EntryType, type Manifest, type ManifestEntry } from './format.ts';
import { PREVIOUS_PREFIX, STAGING, UNDONE_PREFIX, finishInterruptedRestore, startOnSwappedData, keptFolderName, previousFolders, pruneReplaced, swapIn } from './swap.ts';
import { keepMachineOptions } from './machine-options.ts';
import { byteProgress } from './streams.ts';
import { replacedByRestore } from './backup-files.ts';
import type { Lock } from './backup.ts';
import type { Layout } from '../core/layout.ts';

const MAX_JSON = 256 * 1024 * 1024;

interface Landing {
  directory(e: ManifestEntry): void;
  symlink(e: ManifestEntry): void;
  file(e: ManifestEntry): Promise<{ write(chunk: Uint8Array): Promise<void>; done(): Promise<void>; abort(): Promise<void> }>;
}

export interface ArchiveSummary {
  header: BackupHeader;
  manifest: Manifest;
  encrypted: boolean;
}

const refused = (reason: string) => new MailError('invalid_argument', `the backup is refused: ${reason}`, 'file');

async function readJson(entry: ParsedTarEntry): Promise<string> {
  if (entry.header.size > MAX_JSON) throw refused(`${entry.header.name} is too large`);
  const chunks: Uint8Array[] = [];
  for await (const c of entry.body) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function seenEntry(name: string, e: ParsedTarEntry, type: EntryType): ManifestEntry {
  const h = e.header;
  const seen: ManifestEntry = { path: name, type, size: type === 'file' ? h.size : 0, mode: (h.mode ?? 0) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0, mtimeMs: h.mtime ? h.mtime.getTime() : 0 };
  if (type === 'symlink') seen.target = h.linkname;
  return seen;
}

/** The archive's bytes, decrypted when it is an age file. */
async function plainStream(file: string, l: Layout): Promise<{ stream: ReadableStream<Uint8Array>; encrypted: boolean }> {
  const encrypted = readFilePrefix(file, AGE_MAGIC.length).toString('latin1') === AGE_MAGIC;
  if (!encrypted) return { stream: fileStream(file), encrypted };
  try {
    return { stream: await decrypterFor(l).decrypt(fileStream(file)), encrypted };
  } catch (e) {
    if (e instanceof MailError) throw e;
    throw refused(`it cannot be decrypted with this node's backup key (${(e as Error).message}); import the key of the node that made it with \`mailctl mesh key import\``);
  }
}

/**
 * Read the whole archive and check it; `land` (the second pass) receives every entry as it is
 * verified. Throws a refusal naming the first problem.
 */
export async function readArchive(file: string, l: Layout, onBytes: (n: number) => void, land?: Landing): Promise<ArchiveSummary> {
  const st = statOrNull(file);
  if (!st?.isFile()) throw new MailError('not_found', `${file} is not a backup file`, 'file');
  const { stream, encrypted } = await plainStream(file, l);
  let header: BackupHeader | null = null;
  let manifest: Manifest | null = null;
  const seen = new Map<string, ManifestEntry>();
  try {
    const entries = stream.pipeThrough(createTarDecoder({ strict: true }));
    for await (const entry of entries as unknown as AsyncIterable<ParsedTarEntry>) {
      const name = entry.header.name.replace(/\/$/, '');
      checkEntryName(name);
      if (manifest) throw refused(`${name} follows the manifest`);
      const type = checkEntryType(name, entry.header.type, entry.header.linkname);
      if (!header) {
        if (name !== HEADER_NAME) throw refused(`it does not start with ${HEADER_NAME} (not a mailserver backup)`);
        header = parseHeader(await readJson(entry));
        continue;
      }
      if (name === HEADER_NAME) throw refused(`${HEADER_NAME} appears twice`);
      if (name === MANIFEST_NAME) {
        manifest = parseManifest(await readJson(entry), header);
        continue;
      }
      if (seen.has(name)) throw refused(`${name} appears twice`);
      const parent = dirname(name);
      if (parent !== '.' && seen.get(parent)?.type !== 'directory') throw refused(`${name} comes before its folder`);
      const e = seenEntry(name, entry, type);
      if (type === 'directory' || type === 'symlink') {
        await entry.body.cancel();
        if (type === 'directory') land?.directory(e);
        else land?.symlink(e);
      } else {
        const hash = sha256Hash();
        const sink = land ? await land.file(e) : null;
        try {
          for await (const chunk of entry.body) {
            hash.update(chunk);
            onBytes(chunk.length);
            await sink?.write(chunk);
          }
          e.sha256 = hash.digest('hex');
          await sink?.done();
        } catch (err) {
          await sink?.abort();
          throw err;
        }
      }
      seen.set(name, e);
    }
  } catch (e) {
    if (e instanceof MailError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new MailError('daemon_error', `no space left in ${l.dataPath} for the restore; the current data is untouched`);
    throw refused(`it is damaged or truncated (${(e as Error).message})`);
  }
  if (!header) throw refused('it is empty or not a tar archive');
  if (!manifest) throw refused(`${MANIFEST_NAME} is missing (the file is truncated)`);
  const listed = new Map(manifest.entries.map((m) => [m.path, m]));
  for (const e of seen.values()) {
    const problem = sameEntry(e, listed.get(e.path));
    if (problem) throw refused(problem);
  }
  if (listed.size !== seen.size) throw refused(`${listed.size - seen.size} entries of the manifest are missing from the archive`);
  if (!seen.has(UCI_ENTRY)) throw refused(`${UCI_ENTRY} is missing`);
  return { header, manifest, encrypted };
}

/** Entries written under `root` with their mode, owner and time (a folder's once its contents are in). */
export function landingInto(root: string): Landing & { finish(): void } {
  const folders: ManifestEntry[] = [];
  return {
    directory(e) {
      makeDirectory(join(root, e.path));
      folders.push(e);
    },
    symlink(e) {
      makeSymlink(e.target!, join(root, e.path), e);
    },
    async file(e) {
      const sink = await createFileSink(join(root, e.path));
      return { write: (c) => sink.write(c), done: () => sink.finish(e), abort: () => sink.abort() };
    },
    finish() {
      // Deepest first: a read-only folder must not refuse what goes inside it.
      for (const e of folders.reverse()) if (e.path.startsWith('data/')) setOwnership(join(root, e.path), e);
    },
  };
}

/** A folder the backup did not have still replaces the live one (empty), never mixes with it. */
export function completeStaging(staging: string): void {
  for (const f of DATA_FOLDERS) if (!exists(join(staging, 'data', f))) ensureDir(join(staging, 'data', f), { mode: 0o700 });
}

/** Second pass: everything lands in data_path/.restore-staging with its mode, owner and time. */
async function extractToStaging(file: string, l: Layout, onBytes: (n: number) => void): Promise<ArchiveSummary> {
  const staging = join(l.dataPath, STAGING);
  removeTree(staging);
  ensureDir(staging, { mode: 0o700 });
  const landing = landingInto(staging);
  const summary = await readArchive(file, l, onBytes, landing);
  landing.finish();
  completeStaging(staging);
  return summary;
}

export interface MailboxCheck {
  email: string;
  authenticates: boolean;
  messages: number | null;
  expected: number;
  ok: boolean;
  error?: string;
}

export interface RestoreResult {
  file: string;
  node: string;
  created: string;
  format: number;
  encrypted: boolean;
  files: number;
  bytes: number;
  mailboxes: Record<string, number>;
  dryRun: boolean;
  /** What was (or would be) replaced: data_path folders and the UCI file. */
  replaces: string[];
  /** Where the replaced data now is (`mesh restore --undo` puts it back). */
  previous: string | null;
  selfCheck: MailboxCheck[];
  ok: boolean;
}

function summaryOf(file: string, s: ArchiveSummary) {
  const files = s.manifest.entries.filter((e) => e.type === 'file');
  return {
    file,
    node: s.header.node,
    created: s.header.created,
    format: s.header.format,
    encrypted: s.encrypted,
    files: files.length,
    bytes: files.reduce((n, e) => n + e.size, 0),
    mailboxes: s.manifest.messages,
  };
}

/** Stop, swap, converge with the restored settings, start, and check every mailbox. */
export async function replaceLiveData(ctx: Context, from: string, keepAs: string, uciText: string, expected: Record<string, number>, lock: Lock) {
  const l = ctx.layout;
  const previous = keptFolderName(keepAs, new Date());
  await lock(async () => {
    ctx.progress(92, 'stopping the mail service');
    await ctx.daemons.stop(ctx);
    ctx.progress(94, 'replacing the data');
    swapIn(l, { from, previous, uci: uciText });
    pruneReplaced(l);
  });
  const next = loadContext(ctx.daemons, ctx.progress);
  ctx.progress(96, 'converging and starting');
  await startOnSwappedData(next, lock);
  ctx.progress(98, 'checking every mailbox');
  const checks = next.daemons.checkMailboxes(next, Object.keys(expected));
  const selfCheck = checks.map((c) => {
    const want = expected[c.email] ?? 0;
    return { ...c, expected: want, ok: c.authenticates && c.messages === want };
  });
  return { previous: join(l.dataPath, previous), selfCheck };
}

export async function restoreBackup(ctx: Context, opts: { file: string; dryRun: boolean }, lock: Lock): Promise<RestoreResult> {
  const l = ctx.layout;
  const total = fileSize(opts.file);
  const verify = byteProgress(total, (done, text) => ctx.progress(1 + 44 * Math.min(1, done / total), `verifying: ${text}`));
  ctx.progress(1, 'verifying the archive');
  const checked = await readArchive(opts.file, l, (n) => verify.add(n));
  const summary = summaryOf(opts.file, checked);
  if (opts.dryRun) return { ...summary, dryRun: true, replaces: replacedByRestore(l), previous: null, selfCheck: [], ok: true };

  await finishInterruptedRestore(ctx, lock);
  const land = byteProgress(total, (done, text) => ctx.progress(45 + 45 * Math.min(1, done / total), `extracting: ${text}`));
  try {
    const extracted = await extractToStaging(opts.file, l, (n) => land.add(n));
    if (extracted.header.created !== checked.header.created) throw refused('the file changed while it was restored');
    const staged = readText(join(l.dataPath, STAGING, UCI_ENTRY)) ?? '';
    const uciText = keepMachineOptions(staged, ctx.uci);
    const { previous, selfCheck } = await replaceLiveData(ctx, STAGING, PREVIOUS_PREFIX, uciText, checked.manifest.messages, lock);
    return { ...summary, dryRun: false, replaces: replacedByRestore(l), previous, selfCheck, ok: selfCheck.every((c) => c.ok) };
  } catch (e) {
    // Unless the swap began (its journal then finishes it), the staging copy is only in the way.
    if (!exists(join(l.dataPath, '.restore-journal.json'))) removeTree(join(l.dataPath, STAGING));
    throw e;
  }
}

/** `mesh restore --undo`: the newest restore-previous-* folder goes back in place. */
export async function undoRestore(ctx: Context, lock: Lock): Promise<RestoreResult> {
  const l = ctx.layout;
  await finishInterruptedRestore(ctx, lock);
  const [latest] = previousFolders(l);
  if (!latest) throw new MailError('not_found', `there is no previous data to put back (no ${join(l.dataPath, 'restore-previous-*')})`);
  const uci = readBytes(join(l.dataPath, latest, 'uci', 'mailserver'));
  if (!uci) throw new MailError('not_found', `${join(l.dataPath, latest)} holds no UCI file; it is not a complete previous state`);
  const { previous, selfCheck } = await replaceLiveData(ctx, latest, UNDONE_PREFIX, uci.toString('utf8'), {}, lock);
  return {
    file: join(l.dataPath, latest),
    node: '',
    created: '',
    format: 0,
    encrypted: false,
    files: 0,
    bytes: 0,
    mailboxes: {},
    dryRun: false,
    replaces: replacedByRestore(l),
    previous,
    selfCheck,
    ok: true,
  };
}
