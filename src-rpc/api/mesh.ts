// Mesh backup peers (UCI mesh section). Backup, sync and restore themselves come later.
import { arg } from './args.ts';
import { method } from './method.ts';
import { MailError, notImplemented } from '../core/errors.ts';
import { setOption, ensureSection } from '../config/uci.ts';
import type { Context } from '../core/context.ts';

const peerId = (doc: string) =>
  arg.text(doc, 64).checked((field, value) => {
    if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(value)) {
      throw new MailError('invalid_argument', 'is not a mesh peer id (letters, digits, . _ : -)', field);
    }
    return value;
  });

function meshState(ctx: Context) {
  const m = ctx.settings.mesh;
  return { enabled: m.enabled, peers: m.backupPeers, syncInterval: m.syncInterval };
}

function setMesh(ctx: Context, option: string, value: string | string[] | null) {
  ensureSection(ctx.uci, 'mesh', 'mesh');
  setOption(ctx.uci, 'mesh', option, value);
  return meshState(ctx.commitUci(ctx.uci));
}

const meshText = (r: ReturnType<typeof meshState>) => `mesh sync ${r.enabled ? 'enabled' : 'disabled'}; peers: ${r.peers.join(', ') || 'none'}`;

export const meshMethods = [
  method({ name: 'mesh_peers', access: 'read', doc: 'Mesh backup state and peers', cli: ['mesh', 'peers'], args: {}, handler: (_a, ctx) => meshState(ctx), text: meshText }),
  method({
    name: 'mesh_add_peer',
    access: 'write',
    doc: 'Add a mesh backup peer',
    cli: ['mesh', 'add-peer'],
    args: { peer: peerId('peer id').word() },
    handler: ({ peer }, ctx) => {
      if (ctx.settings.mesh.backupPeers.includes(peer)) throw new MailError('exists', `${peer} is already a peer`, 'peer');
      return setMesh(ctx, 'backup_peers', [...ctx.settings.mesh.backupPeers, peer]);
    },
    text: meshText,
  }),
  method({
    name: 'mesh_remove_peer',
    access: 'write',
    doc: 'Remove a mesh backup peer',
    cli: ['mesh', 'remove-peer'],
    args: { peer: peerId('peer id').word() },
    handler: ({ peer }, ctx) => {
      if (!ctx.settings.mesh.backupPeers.includes(peer)) throw new MailError('not_found', `${peer} is not a peer`, 'peer');
      const rest = ctx.settings.mesh.backupPeers.filter((p) => p !== peer);
      return setMesh(ctx, 'backup_peers', rest.length ? rest : null);
    },
    text: meshText,
  }),
  method({ name: 'mesh_enable', access: 'write', doc: 'Enable mesh backup sync', cli: ['mesh', 'enable'], args: {}, handler: (_a, ctx) => setMesh(ctx, 'enabled', '1'), text: meshText }),
  method({ name: 'mesh_disable', access: 'write', doc: 'Disable mesh backup sync', cli: ['mesh', 'disable'], args: {}, handler: (_a, ctx) => setMesh(ctx, 'enabled', '0'), text: meshText }),
  method({ name: 'mesh_backup', access: 'write', doc: 'Create an encrypted backup for mesh sync', cli: ['mesh', 'backup'], args: {}, handler: () => notImplemented('mesh backup', 'the backup issue') }),
  method({
    name: 'mesh_sync',
    access: 'write',
    doc: 'Push backups to, or pull them from, the mesh peers',
    cli: ['mesh', 'sync'],
    args: { mode: arg.oneOf('push or pull', ['push', 'pull'] as const).word() },
    handler: () => notImplemented('mesh sync', 'the backup issue'),
  }),
  method({
    name: 'mesh_restore',
    access: 'write',
    doc: 'Restore mail and accounts from a backup',
    cli: ['mesh', 'restore'],
    args: { file: arg.text('backup file or snapshot id', 255).word() },
    handler: () => notImplemented('mesh restore', 'the backup issue'),
  }),
];
