// `mesh sync push|pull`: restic backs this node up into its own repository on each peer, and
// brings a node's snapshot back. A snapshot holds two folders: `.sync-source/` (the UCI file and
// config/, secrets/, ssl/ as read under the write lock, laid out like a backup file's entries,
// plus MANIFEST.json) and `mail/` (read live: maildir files never change in place). A pull
// restores both into staging, moves mail/ into place and, with --apply, swaps like `mesh restore`
// (without, it counts what the snapshot holds and removes the staging copy).
import { join, relative } from 'node:path';
import { MailError } from '../core/errors.ts';
import type { Context } from '../core/context.ts';
import { mailHost } from '../config/settings.ts';
import { ensureDir, exists, readText, removeTree, rename, writeAtomic } from '../sys/fs.ts';
import { walkTree } from '../sys/tree.ts';
import { readAccountFiles, type Lock } from './backup.ts';
import { FORMAT_VERSION, UCI_ENTRY, mailboxOfMessage } from './format.ts';
import { completeStaging, landingInto, replaceLiveData } from './restore.ts';
import { PREVIOUS_PREFIX, finishInterruptedRestore } from './swap.ts';
import { keepMachineOptions } from './machine-options.ts';
import { replacedByRestore } from './backup-files.ts';
import { p2pPeers, resolvePeer } from './peers.ts';
import { jsonLines, missingRepository, repositoryFor, restic, resticError, syncPasswordFile, type Password, type Repository } from './restic.ts';
import { recordPeerState } from './sync-state.ts';
import type { Layout } from '../core/layout.ts';

const SOURCE = '.sync-source';
const PULLED = '.sync-pull';
const SYNC_MANIFEST = 'MANIFEST.json';

export interface SyncManifest {
  format: number;
  node: string;
  created: string;
  /** Messages and their bytes per mailbox when the push began. */
  messages: Record<string, number>;
  mailBytes: Record<string, number>;
}

/** Messages per mailbox (files in cur/ and new/ of every folder) under `root`/data/mail or `root`/mail. */
export function countMail(root: string, folder: string): { messages: Record<string, number>; mailBytes: Record<string, number> } {
  const messages: Record<string, number> = {};
  const mailBytes: Record<string, number> = {};
  for (const e of walkTree(root, folder)) {
    if (e.type !== 'file') continue;
    const box = mailboxOfMessage(`data/mail/${relative(folder, e.path)}`);
    if (!box) continue;
    messages[box] = (messages[box] ?? 0) + 1;
    mailBytes[box] = (mailBytes[box] ?? 0) + e.size;
  }
  return { messages, mailBytes };
}

export function meshRepositories(ctx: Context, node: string): Repository[] {
  const peers = ctx.settings.mesh.backupPeers;
  if (peers.length === 0) throw new MailError('not_found', 'no mesh peers: add one with `mailctl mesh add-peer`');
  const known = p2pPeers();
  return peers.map((p) => repositoryFor(ctx.layout, resolvePeer(p, known), node));
}

export function ownPassword(l: Layout): Password {
  const file = syncPasswordFile(l);
  if (!exists(file)) throw new MailError('not_found', `this node has no repository password (${file}): run \`mailctl mesh enable\` first`);
  return { file };
}

/** The account side of the snapshot, written fresh with the live files' modes, owners and times. */
async function writeSource(ctx: Context, lock: Lock): Promise<string> {
  const l = ctx.layout;
  const source = join(l.dataPath, SOURCE);
  const skipped: string[] = [];
  const files = await lock(async () => readAccountFiles(l, skipped));
  removeTree(source);
  ensureDir(source, { mode: 0o700 });
  const landing = landingInto(source);
  for (const f of files) {
    if (f.entry.type === 'directory') landing.directory(f.entry);
    else if (f.entry.type === 'symlink') landing.symlink(f.entry);
    else {
      const sink = await landing.file(f.entry);
      await sink.write(f.bytes ?? new Uint8Array());
      await sink.done();
    }
  }
  landing.finish();
  const manifest: SyncManifest = { format: FORMAT_VERSION, node: mailHost(ctx.settings), created: new Date().toISOString(), ...countMail(l.dataPath, 'mail') };
  writeAtomic(join(source, SYNC_MANIFEST), `${JSON.stringify(manifest)}\n`, { mode: 0o600 });
  return source;
}

export interface PeerPush {
  peer: string;
  ok: boolean;
  snapshot?: string;
  /** restic's own statistics of this push. */
  bytesAdded?: number;
  bytesProcessed?: number;
  filesNew?: number;
  filesChanged?: number;
  snapshots?: number;
  repositoryBytes?: number;
  forgotten?: number;
  error?: string;
}

async function ensureRepository(l: Layout, repo: Repository, password: Password): Promise<void> {
  const probe = await restic(l, repo, password, ['cat', 'config'], { timeoutMs: 120_000 });
  if (probe.code === 0) return;
  if (!missingRepository(probe)) throw resticError(repo, 'opening the repository', probe);
  const init = await restic(l, repo, password, ['init'], { timeoutMs: 120_000 });
  if (init.code !== 0) throw resticError(repo, 'creating the repository', init);
}

/** Snapshot count and the repository's stored size (after retention). */
export async function repositoryFigures(l: Layout, repo: Repository, password: Password): Promise<{ snapshots: number; repositoryBytes: number }> {
  const list = await restic(l, repo, password, ['snapshots', '--json'], { timeoutMs: 300_000 });
  if (list.code !== 0) throw resticError(repo, 'listing snapshots', list);
  const stats = await restic(l, repo, password, ['stats', '--mode', 'raw-data', '--json'], { timeoutMs: 600_000 });
  if (stats.code !== 0) throw resticError(repo, 'measuring the repository', stats);
  const snapshots = (jsonLines(list.stdout)[0] as unknown as unknown[] | undefined)?.length ?? 0;
  const size = Number(jsonLines(stats.stdout)[0]?.total_size ?? 0);
  return { snapshots, repositoryBytes: size };
}

async function pushTo(ctx: Context, repo: Repository, password: Password, source: string): Promise<PeerPush> {
  const l = ctx.layout;
  await ensureRepository(l, repo, password);
  // Paths relative to data_path: restic then names them /.sync-source and /mail in the snapshot.
  const backup = await restic(l, repo, password, ['backup', '--json', '--host', repo.node, '--tag', 'secubox-mailserver', relative(l.dataPath, source), 'mail'], { cwd: l.dataPath });
  const summary = jsonLines(backup.stdout).find((m) => m.message_type === 'summary');
  if (backup.code !== 0 || !summary) throw resticError(repo, 'the backup', backup);
  const keep = String(ctx.settings.mesh.keep);
  const forget = await restic(l, repo, password, ['forget', '--json', '--host', repo.node, '--keep-last', keep, '--prune'], {});
  if (forget.code !== 0) throw resticError(repo, 'retention (forget --prune)', forget);
  const groups = (jsonLines(forget.stdout)[0] as unknown as { remove?: unknown[] | null }[] | undefined) ?? [];
  return {
    peer: repo.peer,
    ok: true,
    snapshot: String(summary.snapshot_id),
    bytesAdded: Number(summary.data_added),
    bytesProcessed: Number(summary.total_bytes_processed),
    filesNew: Number(summary.files_new),
    filesChanged: Number(summary.files_changed),
    forgotten: groups.reduce((n, g) => n + (g.remove?.length ?? 0), 0),
    ...(await repositoryFigures(l, repo, password)),
  };
}

export interface PushResult {
  node: string;
  peers: PeerPush[];
  ok: boolean;
}

export async function syncPush(ctx: Context, lock: Lock): Promise<PushResult> {
  const l = ctx.layout;
  const node = mailHost(ctx.settings);
  const repos = meshRepositories(ctx, node);
  const password = ownPassword(l);
  ctx.progress(2, 'reading accounts, keys and certificates');
  const source = await writeSource(ctx, lock);
  const peers: PeerPush[] = [];
  try {
    for (const [i, repo] of repos.entries()) {
      ctx.progress(5 + (90 * i) / repos.length, `pushing to ${repo.peer}`);
      // One failing peer never keeps the others from their copy.
      const r = await pushTo(ctx, repo, password, source).catch((e: unknown) => ({ peer: repo.peer, ok: false, error: (e as Error).message }));
      recordPeerState(l, repo.peer, 'push', r);
      peers.push(r);
    }
  } finally {
    removeTree(source);
  }
  return { node, peers, ok: peers.every((p) => p.ok) };
}

export interface PullResult {
  node: string;
  peer: string;
  snapshot: string;
  created: string;
  mailboxes: Record<string, number>;
  applied: boolean;
  replaces: string[];
  previous: string | null;
  selfCheck: { email: string; authenticates: boolean; messages: number | null; expected: number; ok: boolean; error?: string }[];
  ok: boolean;
}

interface SnapshotInfo {
  id: string;
  short_id: string;
  time: string;
}

/** The wanted snapshot (latest when none is named) and the first peer that has it. */
async function findSnapshot(l: Layout, repos: Repository[], password: Password, wanted: string | undefined): Promise<{ repo: Repository; snapshot: SnapshotInfo }> {
  const problems: string[] = [];
  for (const repo of repos) {
    const list = await restic(l, repo, password, ['snapshots', '--json', '--host', repo.node], { timeoutMs: 300_000 });
    if (list.code !== 0) {
      problems.push(resticError(repo, 'listing snapshots', list).message);
      continue;
    }
    const snaps = ((jsonLines(list.stdout)[0] as unknown as SnapshotInfo[] | undefined) ?? []).sort((a, b) => a.time.localeCompare(b.time));
    const hit = wanted ? snaps.find((s) => s.id.startsWith(wanted)) : snaps[snaps.length - 1];
    if (hit) return { repo, snapshot: hit };
    problems.push(`${repo.peer}: ${wanted ? `no snapshot ${wanted}` : 'no snapshot'} of ${repo.node}`);
  }
  throw new MailError('not_found', `nothing to pull: ${problems.join('; ')}`, 'node');
}

export async function syncPull(ctx: Context, opts: { node: string; snapshot?: string; apply: boolean; password?: string }, lock: Lock): Promise<PullResult> {
  const l = ctx.layout;
  const repos = meshRepositories(ctx, opts.node);
  const password: Password = opts.password !== undefined ? { text: opts.password } : ownPassword(l);
  ctx.progress(2, 'looking for the snapshot');
  const { repo, snapshot } = await findSnapshot(l, repos, password, opts.snapshot);
  await finishInterruptedRestore(ctx, lock);
  const pulled = join(l.dataPath, PULLED);
  removeTree(pulled);
  ensureDir(pulled, { mode: 0o700 });
  ctx.progress(10, `restoring ${snapshot.short_id} from ${repo.peer}`);
  const restored = await restic(l, repo, password, ['restore', snapshot.id, '--target', pulled], {});
  if (restored.code !== 0) {
    removeTree(pulled);
    throw resticError(repo, `restoring snapshot ${snapshot.short_id}`, restored);
  }
  const staging = join(pulled, SOURCE);
  const manifestText = readText(join(staging, SYNC_MANIFEST));
  const uciText = readText(join(staging, UCI_ENTRY));
  if (!manifestText || uciText === null) {
    removeTree(pulled);
    throw new MailError('invalid_argument', `snapshot ${snapshot.short_id} on ${repo.peer} is not a mailserver snapshot (no ${SYNC_MANIFEST} or UCI file)`, 'snapshot');
  }
  const manifest = JSON.parse(manifestText) as SyncManifest;
  if (manifest.format > FORMAT_VERSION) {
    removeTree(pulled);
    throw new MailError('invalid_argument', `snapshot ${snapshot.short_id} was written by a newer mailctl (format ${manifest.format}; this one reads ${FORMAT_VERSION})`, 'snapshot');
  }
  if (exists(join(pulled, 'mail'))) rename(join(pulled, 'mail'), join(staging, 'data', 'mail'));
  completeStaging(staging);
  removeTree(join(staging, SYNC_MANIFEST));
  // What the snapshot really holds: mail that arrived while the push read the folders is in it too.
  const { messages } = countMail(staging, 'data/mail');
  const base = { node: manifest.node, peer: repo.peer, snapshot: snapshot.short_id, created: snapshot.time, mailboxes: messages, replaces: [] as string[] };
  if (!opts.apply) {
    // A check that the snapshot restores; a second copy of the mail must not stay on a router.
    removeTree(pulled);
    recordPeerState(l, repo.peer, 'pull', { ok: true, snapshot: snapshot.short_id });
    return { ...base, applied: false, previous: null, selfCheck: [], ok: true };
  }
  ctx.progress(90, 'replacing the data');
  const { previous, selfCheck } = await replaceLiveData(ctx, relative(l.dataPath, staging), PREVIOUS_PREFIX, keepMachineOptions(uciText, ctx.uci), messages, lock);
  removeTree(pulled);
  const ok = selfCheck.every((c) => c.ok);
  recordPeerState(l, repo.peer, 'pull', { ok, snapshot: snapshot.short_id });
  return { ...base, replaces: replacedByRestore(l), applied: true, previous, selfCheck, ok };
}
