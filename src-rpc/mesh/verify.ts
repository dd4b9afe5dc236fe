// `mesh verify`, the restore drill: on every peer, restic checks the repository (its structure,
// and the contents of a tenth of its pack files) and the latest snapshot of one mailbox is
// really restored into a throwaway folder and compared with the snapshot's manifest (message
// count and bytes). The mailbox changes from day to day, so every one is drilled in turn.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { mailHost } from '../config/settings.ts';
import { ensureDir, removeTree } from '../sys/fs.ts';
import type { Context } from '../core/context.ts';
import type { Layout } from '../core/layout.ts';
import { countMail, meshRepositories, ownPassword, type SyncManifest } from './sync.ts';
import { jsonLines, restic, resticError, type Password, type Repository } from './restic.ts';
import { recordVerify, type VerifyRecord } from './sync-state.ts';

/** A share of the pack files read back whole on each run (all of them would cost the repository's size in traffic). */
const READ_DATA_SUBSET = '10%';
const DRILL = '.sync-verify';

type PeerVerdict = VerifyRecord['peers'][number];

async function latestSnapshot(l: Layout, repo: Repository, password: Password): Promise<string> {
  const list = await restic(l, repo, password, ['snapshots', '--json', '--host', repo.node, '--latest', '1'], { timeoutMs: 300_000 });
  if (list.code !== 0) throw resticError(repo, 'listing snapshots', list);
  const snaps = (jsonLines(list.stdout)[0] as unknown as { id: string }[] | undefined) ?? [];
  if (snaps.length === 0) throw new MailError('not_found', `${repo.peer} holds no snapshot of ${repo.node} yet (push first)`, 'peer');
  return snaps[snaps.length - 1]!.id;
}

async function drill(ctx: Context, repo: Repository, password: Password, day: number): Promise<PeerVerdict> {
  const l = ctx.layout;
  const check = await restic(l, repo, password, ['check', `--read-data-subset=${READ_DATA_SUBSET}`], {});
  if (check.code !== 0) throw resticError(repo, 'restic check', check);
  const id = await latestSnapshot(l, repo, password);
  const dump = await restic(l, repo, password, ['dump', id, '/.sync-source/MANIFEST.json'], { timeoutMs: 300_000 });
  if (dump.code !== 0) throw resticError(repo, 'reading the manifest', dump);
  const manifest = JSON.parse(dump.stdout) as SyncManifest;
  const boxes = Object.keys(manifest.messages).sort();
  if (boxes.length === 0) return { peer: repo.peer, ok: true, messages: 0 };
  const mailbox = boxes[day % boxes.length]!;
  const [local, domain] = mailbox.split('@') as [string, string];
  const target = join(l.dataPath, DRILL);
  removeTree(target);
  ensureDir(target, { mode: 0o700 });
  try {
    const restored = await restic(l, repo, password, ['restore', id, '--target', target, '--include', `/mail/${domain}/${local}`], {});
    if (restored.code !== 0) throw resticError(repo, `restoring ${mailbox}`, restored);
    const got = countMail(target, 'mail');
    const want = { messages: manifest.messages[mailbox], bytes: manifest.mailBytes[mailbox] };
    const have = { messages: got.messages[mailbox] ?? 0, bytes: got.mailBytes[mailbox] ?? 0 };
    if (have.messages !== want.messages || have.bytes !== want.bytes) {
      return { peer: repo.peer, ok: false, mailbox, messages: have.messages, error: `${mailbox} restored ${have.messages} messages (${have.bytes} bytes); the manifest lists ${want.messages} (${want.bytes} bytes)` };
    }
    return { peer: repo.peer, ok: true, mailbox, messages: have.messages };
  } finally {
    removeTree(target);
  }
}

export async function syncVerify(ctx: Context): Promise<VerifyRecord> {
  const l = ctx.layout;
  const repos = meshRepositories(ctx, mailHost(ctx.settings));
  const password = ownPassword(l);
  const day = Math.floor(Date.now() / 86_400_000);
  const peers: PeerVerdict[] = [];
  for (const [i, repo] of repos.entries()) {
    ctx.progress(5 + (90 * i) / repos.length, `checking ${repo.peer}`);
    peers.push(await drill(ctx, repo, password, day).catch((e: unknown) => ({ peer: repo.peer, ok: false, error: (e as Error).message })));
  }
  const record: VerifyRecord = { at: new Date().toISOString(), ok: peers.every((p) => p.ok), peers };
  recordVerify(l, record);
  return record;
}
