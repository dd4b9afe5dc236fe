// Mesh backup: peers (UCI mesh section), backup files, restore, the backup key. The work is in
// src-rpc/mesh/; the engine (age, tar) is loaded only by the methods that need it.
import { arg } from './args.ts';
import { p2pPeers, resolvePeer, type PeerKind } from '../mesh/peers.ts';
import { method } from './method.ts';
import { MailError } from '../core/errors.ts';
import { mailHost } from '../config/settings.ts';
import { ensureSshKey, parseSshTarget, pinHostKey, probePeer, sshPublicKey } from '../mesh/ssh.ts';
import { ensureSyncPassword, readSyncPassword } from '../mesh/restic.ts';
import { readSyncState, type PeerState } from '../mesh/sync-state.ts';
import { setOption, ensureSection } from '../config/uci.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { loadMeshEngine } from '../mesh/load-engine.ts';
import { listBackups, replacedByRestore, resolveBackupFile } from '../mesh/backup-files.ts';
import { parseKey, type BackupKey } from '../mesh/key-format.ts';
import { mib } from '../mesh/streams.ts';
import type { Arg } from './args.ts';
import type { Context } from '../core/context.ts';
import type { RestoreResult } from '../mesh/restore.ts';

/** One peer as `mesh peers` shows it: where it is, what the last push and pull did, whether it answers. */
interface PeerView extends PeerState {
  peer: string;
  kind: PeerKind | null;
  target: string | null;
  name?: string;
  reachable?: boolean;
  error?: string;
}

function meshState(ctx: Context) {
  const m = ctx.settings.mesh;
  const state = readSyncState(ctx.layout);
  const known = m.backupPeers.length ? p2pPeers() : null;
  const resolved = m.backupPeers.map((peer): PeerView => {
    try {
      return { ...resolvePeer(peer, known), ...state.peers[peer] };
    } catch (e) {
      return { peer, kind: null, target: null, error: (e as Error).message };
    }
  });
  return { enabled: m.enabled, peers: m.backupPeers, resolved, syncInterval: m.syncInterval, node: mailHost(ctx.settings), publicKey: sshPublicKey(ctx.layout), ...(state.verify ? { verify: state.verify } : {}) };
}

/** `mesh peers`: the recorded state, and whether each SFTP peer answers now (all asked at once) with the pinned key. */
async function meshPeers(ctx: Context) {
  const r = meshState(ctx);
  const probed = await Promise.all(r.resolved.map(async (p): Promise<PeerView> => (r.publicKey && p.target && (p.kind === 'sftp' || p.kind === 'p2p') ? { ...p, ...(await probePeer(ctx.layout, p.peer, parseSshTarget(p.target))) } : p)));
  return { ...r, resolved: probed };
}

const when = (e?: { at: string; ok: boolean; error?: string }) => (e ? `${e.at.slice(0, 16).replace('T', ' ')} ${e.ok ? 'OK' : `FAILED (${e.error ?? ''})`}` : 'never');

function setMesh(ctx: Context, option: string, value: string | string[] | null) {
  ensureSection(ctx.uci, 'mesh', 'mesh');
  setOption(ctx.uci, 'mesh', option, value);
  return meshState(ctx.commitUci(ctx.uci));
}

const restoreText = (r: RestoreResult) =>
  [
    r.dryRun ? `verified, nothing changed: ${r.file}` : `restored: ${r.file}`,
    ...(r.node ? [`  node ${r.node}, made ${r.created}, format ${r.format}, ${r.encrypted ? 'encrypted' : 'plain'}; ${r.files} files, ${mib(r.bytes)}, every checksum OK`] : []),
    `  ${r.dryRun ? 'would replace' : 'replaced'}: ${r.replaces.join(', ')}`,
    ...(r.previous ? [`  previous data kept in ${r.previous} (\`mailctl mesh restore --undo\` puts it back)`] : []),
    ...r.selfCheck.map((c) => `  ${c.ok ? 'OK  ' : 'FAIL'} ${c.email}: ${c.authenticates ? 'login known' : 'NO LOGIN'}, ${c.messages ?? '?'} of ${c.expected} messages${c.error ? ` (${c.error})` : ''}`),
  ].join('\n');


const meshText = (r: ReturnType<typeof meshState>) =>
  [
    `mesh sync ${r.enabled ? `enabled (every ${r.syncInterval} s)` : 'disabled'}, node ${r.node}; ${r.peers.length ? 'peers:' : 'no peers'}`,
    ...r.resolved.flatMap((p) =>
      p.kind
        ? [
            `  ${p.peer}: ${p.kind} ${p.target}${p.name ? ` (${p.name})` : ''}${p.reachable === undefined ? '' : p.reachable ? ', reachable' : `, UNREACHABLE: ${p.error}`}`,
            `    last push ${when(p.lastPush)}; last pull ${when(p.lastPull)}${p.snapshots !== undefined ? `; ${p.snapshots} snapshots, ${mib(p.repositoryBytes ?? 0)}` : ''}`,
          ]
        : [`  ${p.peer}: UNRESOLVED: ${p.error ?? ''}`],
    ),
    ...(r.publicKey ? [`this node's SSH key (for the peers' authorized_keys): ${r.publicKey}`] : []),
    ...(r.verify ? [`last verified restore: ${r.verify.at.slice(0, 16).replace('T', ' ')}, ${r.verify.ok ? 'OK' : `FAILED: ${r.verify.peers.filter((p) => !p.ok).map((p) => `${p.peer}: ${p.error}`).join('; ')}`}`] : []),
  ].join('\n');

export const meshMethods = [
  method({ name: 'mesh_peers', access: 'read', doc: 'Mesh backup state and peers: reachability (asked now), last push and pull, snapshots, repository size', cli: ['mesh', 'peers'], args: {}, handler: (_a, ctx) => meshPeers(ctx), text: meshText }),
  method({
    name: 'mesh_add_peer',
    access: 'write',
    doc: 'Add a mesh backup peer',
    cli: ['mesh', 'add-peer'],
    args: { peer: arg.meshPeer('peer: [user@]host[:port], rest:https://host[:port]/path, or a secubox-p2p peer id').word() },
    handler: ({ peer }, ctx) => {
      if (ctx.settings.mesh.backupPeers.includes(peer)) throw new MailError('exists', `${peer} is already a peer`, 'peer');
      const resolved = resolvePeer(peer);
      // Pinned now once this node has its key (`mesh enable`); otherwise at the first push.
      const hostKey = resolved.kind !== 'rest' && sshPublicKey(ctx.layout) ? pinHostKey(ctx.layout, peer, parseSshTarget(resolved.target)) : null;
      return { ...setMesh(ctx, 'backup_peers', [...ctx.settings.mesh.backupPeers, peer]), hostKey };
    },
    text: (r) => [meshText(r), ...(r.hostKey ? [`${r.peers[r.peers.length - 1]}: ${r.hostKey}`] : [])].join('\n'),
  }),
  method({
    name: 'mesh_remove_peer',
    access: 'write',
    doc: 'Remove a mesh backup peer',
    cli: ['mesh', 'remove-peer'],
    args: { peer: arg.meshPeer('peer: [user@]host[:port], rest:https://host[:port]/path, or a secubox-p2p peer id').word() },
    handler: ({ peer }, ctx) => {
      if (!ctx.settings.mesh.backupPeers.includes(peer)) throw new MailError('not_found', `${peer} is not a peer`, 'peer');
      const rest = ctx.settings.mesh.backupPeers.filter((p) => p !== peer);
      return setMesh(ctx, 'backup_peers', rest.length ? rest : null);
    },
    text: meshText,
  }),
  method({
    name: 'mesh_enable',
    access: 'write',
    doc: "Enable mesh backup sync: makes this node's SSH key and repository password when missing",
    cli: ['mesh', 'enable'],
    args: {},
    handler: (_a, ctx) => {
      ensureSshKey(ctx.layout, mailHost(ctx.settings));
      ensureSyncPassword(ctx.layout);
      return setMesh(ctx, 'enabled', '1');
    },
    text: meshText,
  }),
  method({ name: 'mesh_disable', access: 'write', doc: 'Disable mesh backup sync', cli: ['mesh', 'disable'], args: {}, handler: (_a, ctx) => setMesh(ctx, 'enabled', '0'), text: meshText }),
  method({
    name: 'mesh_backup',
    access: 'write',
    job: true,
    doc: 'Write one encrypted file holding everything that makes this server (settings, accounts, keys, certificates, mail), with a checksummed manifest',
    cli: ['mesh', 'backup'],
    args: {
      output: arg.absolutePath('file to write (default: data_path/backups/, where mesh.keep applies)').optional(),
      no_encrypt: arg.flag('write a plain tar (the file then holds every secret in clear)').optional(),
    },
    handler: async ({ output, no_encrypt }, ctx) => (await loadMeshEngine()).createBackup(ctx, { output, encrypt: no_encrypt !== true }, withWriteLock),
    text: (r) =>
      [
        `backup: ${r.file}`,
        `  ${r.files} files, ${mib(r.bytes)} written, ${r.encrypted ? 'encrypted (age)' : 'NOT encrypted'}; node ${r.node}, ${r.created}`,
        ...Object.entries(r.messages).map(([box, n]) => `  ${box}: ${n} messages`),
        ...r.skipped.map((p) => `  skipped (not a file or folder): ${p}`),
        ...r.removed.map((p) => `  removed by mesh.keep: ${p}`),
      ].join('\n'),
  }),
  method({
    name: 'mesh_backups',
    access: 'read',
    doc: 'The backup files in data_path/backups, newest first',
    cli: ['mesh', 'backups'],
    args: {},
    handler: (_a, ctx) => ({ backups: listBackups(ctx.layout), keep: ctx.settings.mesh.keep, replaces: replacedByRestore(ctx.layout) }),
    text: (r) => (r.backups.length ? r.backups.map((b) => `${b.created}  ${mib(b.bytes).padStart(10)}  ${b.name}`).join('\n') : 'no backups yet'),
  }),
  method({
    name: 'mesh_restore',
    access: 'write',
    job: true,
    doc: 'Restore settings, accounts, keys, certificates and mail from a backup file: verified whole first, swapped in atomically, previous data kept (--undo puts it back)',
    cli: ['mesh', 'restore'],
    args: {
      file: arg.text('backup file (absolute path, or a name from `mesh backups`)', 1024).word().optional(),
      dry_run: arg.flag('verify the file and say what would be replaced; change nothing').optional(),
      undo: arg.flag('put back the data the last restore replaced').optional(),
    },
    handler: async ({ file, dry_run, undo }, ctx) => {
      const engine = await loadMeshEngine();
      if (undo) {
        if (file) throw new MailError('invalid_argument', '--undo takes no file', 'file');
        return engine.undoRestore(ctx, withWriteLock);
      }
      if (!file) throw new MailError('invalid_argument', 'a backup file is needed (or --undo)', 'file');
      return engine.restoreBackup(ctx, { file: resolveBackupFile(ctx.layout, file), dryRun: dry_run === true }, withWriteLock);
    },
    text: restoreText,
    failed: (r) => !r.ok,
  }),
  method({
    name: 'mesh_verify',
    access: 'write',
    job: true,
    doc: "Restore drill: restic check (a tenth of the data read back) on every peer, and the latest snapshot of one mailbox restored into a throwaway folder and compared with the snapshot's manifest",
    cli: ['mesh', 'verify'],
    args: {},
    handler: async (_a, ctx) => (await loadMeshEngine()).syncVerify(ctx),
    text: (r) => [`restore drill ${r.ok ? 'OK' : 'FAILED'}:`, ...r.peers.map((p) => (p.ok ? `  ${p.peer}: OK${p.mailbox ? `, ${p.mailbox} restored (${p.messages} messages, as listed)` : ''}` : `  ${p.peer}: FAILED: ${p.error}`))].join('\n'),
    failed: (r) => !r.ok,
  }),
  method({
    name: 'mesh_key_show',
    access: 'read',
    doc: 'Which key encrypts backups (kind, public recipient, fingerprint); never the secret',
    cli: ['mesh', 'key', 'show'],
    args: {},
    handler: async (_a, ctx) => (await loadMeshEngine()).describeKey(ctx.layout),
    text: (r) => (r.kind ? [`backup key: ${r.kind} (${r.file})`, `  fingerprint: ${r.fingerprint}`, ...(r.recipient ? [`  recipient:   ${r.recipient}`] : [])].join('\n') : `no backup key yet (made by the first \`mailctl mesh backup\` in ${r.file})`),
  }),
  method({
    name: 'mesh_key_export',
    access: 'write',
    doc: 'Print the backup key, to carry to the node that will restore (made now if there is none)',
    cli: ['mesh', 'key', 'export'],
    args: {},
    handler: async (_a, ctx) => {
      const engine = await loadMeshEngine();
      const key = await engine.ensureBackupKey(ctx.settings, ctx.layout);
      return { ...(await engine.describeKey(ctx.layout)), key: key.secret, node: mailHost(ctx.settings), repositoryPassword: readSyncPassword(ctx.layout) };
    },
    text: (r) =>
      [
        `${r.key}\n# ${r.kind}, fingerprint ${r.fingerprint}: keep it apart from the backups; \`mailctl mesh key import\` on the restoring node`,
        ...(r.repositoryPassword ? [`${r.repositoryPassword}\n# the peers' repository password of this node: \`mailctl mesh sync pull ${r.node} --password-stdin\` on the restoring node`] : []),
      ].join('\n'),
  }),
  method({
    name: 'mesh_key_import',
    access: 'write',
    doc: 'Install the backup key of another node (a passphrase or an age identity); the replaced key still decrypts older backups',
    cli: ['mesh', 'key', 'import'],
    args: { key: { ...arg.password('the exported backup key'), parse: parseKey } as unknown as Arg<BackupKey> },
    handler: async ({ key }, ctx) => {
      const engine = await loadMeshEngine();
      await engine.importBackupKey(ctx.layout, key);
      return engine.describeKey(ctx.layout);
    },
    text: (r) => `backup key imported: ${r.kind}, fingerprint ${r.fingerprint}`,
  }),
  method({
    name: 'mesh_sync',
    access: 'write',
    job: true,
    doc: "push: back this node up into its restic repository on every peer (retention: mesh.keep); pull: restore a node's snapshot into staging and check it, and with --apply swap it in like `mesh restore`",
    cli: ['mesh', 'sync'],
    args: {
      mode: arg.oneOf('push or pull', ['push', 'pull'] as const).word(),
      node: arg.domain("pull: the node whose snapshot to restore (its mail host name; default this node's)").word().optional(),
      snapshot: arg.text('pull: a snapshot id (default the latest)', 64).optional(),
      apply: arg.flag('pull: replace this node\'s data with the pulled snapshot (previous data kept for `mesh restore --undo`)').optional(),
      password: arg.password("pull: the other node's repository password (its `mesh key export`); default this node's").optional(),
    },
    handler: async ({ mode, node, snapshot, apply, password }, ctx) => {
      const engine = await loadMeshEngine();
      if (mode === 'push') {
        if (node || snapshot || apply || password) throw new MailError('invalid_argument', 'push takes no node, snapshot, apply or password', 'mode');
        return engine.syncPush(ctx, withWriteLock);
      }
      if (snapshot !== undefined && !/^[0-9a-f]{8,64}$/.test(snapshot)) throw new MailError('invalid_argument', 'must be a restic snapshot id (8 to 64 hex digits)', 'snapshot');
      return engine.syncPull(ctx, { node: node ?? mailHost(ctx.settings), snapshot, apply: apply === true, password }, withWriteLock);
    },
    text: (r) =>
      'peers' in r
        ? [`push of ${r.node}:`, ...r.peers.map((p) => (p.ok ? `  ${p.peer}: snapshot ${p.snapshot}, ${mib(p.bytesAdded ?? 0)} added of ${mib(p.bytesProcessed ?? 0)}; ${p.snapshots} snapshots, ${mib(p.repositoryBytes ?? 0)} stored` : `  ${p.peer}: FAILED: ${p.error}`))].join('\n')
        : [
            `${r.applied ? 'pulled and applied' : 'pulled and checked, nothing replaced'}: snapshot ${r.snapshot} of ${r.node} (${r.created}) from ${r.peer}`,
            ...Object.entries(r.mailboxes).map(([box, n]) => `  ${box}: ${n} messages`),
            ...(r.applied ? [`  replaced: ${r.replaces.join(', ')}`] : ['  (--apply swaps it in)']),
            ...(r.previous ? [`  previous data kept in ${r.previous} (\`mailctl mesh restore --undo\` puts it back)`] : []),
            ...r.selfCheck.map((c) => `  ${c.ok ? 'OK  ' : 'FAIL'} ${c.email}: ${c.authenticates ? 'login known' : 'NO LOGIN'}, ${c.messages ?? '?'} of ${c.expected} messages${c.error ? ` (${c.error})` : ''}`),
          ].join('\n'),
    failed: (r) => !r.ok,
  }),
];
