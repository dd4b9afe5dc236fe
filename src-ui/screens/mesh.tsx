// Backup & mesh: the peers that receive encrypted backups, sync on/off, the backup files with a
// restore that names what it replaces, the backup key for carrying to another node, and sync
// (not implemented by the backend yet: the page says so).
import { useEffect } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { call, isJobStarted } from '../client.ts';
import { trackJob } from '../state.ts';
import { may } from '../rights.ts';
import { Btn, Confirm, CopyButton, Done, ErrorText, Field, formLevel, KeyValues, Loading, Section, useAction, useLoad } from '../ui.tsx';
import { bytes } from '../format.ts';
import type { ComponentChildren } from 'preact';
import type { Mesh, ResolvedPeer } from '../types.ts';

function PeerRow({ peer, resolved, onChanged }: { peer: string; resolved: ResolvedPeer | undefined; onChanged: (m: Mesh) => void }) {
  const act = useAction();
  return (
    <tr class="tr cbi-section-table-row" data-peer={peer}>
      <td class="td ms-addr" data-title="Peer">
        {peer}
      </td>
      <td class="td" data-title="Reached as" data-peer-kind={resolved?.kind ?? 'unresolved'}>
        {resolved?.kind ? `${resolved.kind === 'p2p' ? 'SecuBox peer' : resolved.kind === 'rest' ? 'restic REST' : 'SFTP'} ${resolved.target}${resolved.name ? ` (${resolved.name})` : ''}` : <span class="label warning">{resolved?.error ?? 'unknown'}</span>}
      </td>
      <td class="td cbi-section-actions">
        {may('mesh_remove_peer') && (
          <div>
            <Btn kind="negative" label="Remove" busy={act.busy.value} title={`Remove the peer ${peer}`} onClick={() => void act.run(async () => onChanged(await call('mesh_remove_peer', { peer })))} />
          </div>
        )}
        <ErrorText error={act.error.value} />
      </td>
    </tr>
  );
}

/** Restore needs two clicks, and the second names what goes away (kept for --undo). */
function RestoreConfirm({ label, replaces, busy, onConfirm, onCancel }: { label: string; replaces: string[]; busy: boolean; onConfirm: () => void; onCancel: () => void }) {
  return (
    <Confirm
      question={
        <>
          Restore settings, mailboxes, keys, certificates and mail from <strong>{label}</strong>? The server stops for the swap;
          these are replaced: <span data-replaces>{replaces.join(', ')}</span>. They are kept in a <code>restore-previous-…</code> folder
          (<code>mailctl mesh restore --undo</code> puts them back).
        </>
      }
      confirmLabel={`Restore ${label}`}
      busy={busy}
      onConfirm={onConfirm}
      onCancel={onCancel}
    />
  );
}

function BackupActions() {
  const act = useAction();
  const list = useLoad(() => call('mesh_backups'));
  const file = useSignal('');
  const confirming = useSignal<string | null>(null);
  useEffect(() => void list.load(), []);
  const job = (fn: () => Promise<object>) =>
    act.run(async () => {
      const r = await fn();
      if (isJobStarted(r)) {
        trackJob(r);
        return 'Started: see the progress bar above.';
      }
      return 'Done.';
    });
  const restore = (target: string) => void job(() => call('mesh_restore', { file: target })).then(() => (confirming.value = null));
  const err = act.error.value;
  const b = list.data.value;
  return (
    <Section title="Backups" descr="One encrypted file with settings, mailboxes, DKIM keys, certificates and mail; the newest are kept in data_path/backups.">
      <div class="ms-buttons">
        <Btn kind="action" label="Back up now" busy={act.busy.value} onClick={() => void job(() => call('mesh_backup'))} />
        <Btn kind="neutral" label="Refresh list" busy={list.loading.value} onClick={() => void list.load()} />
        <Btn kind="action" label="Push to peers" busy={act.busy.value} onClick={() => void job(() => call('mesh_sync', { mode: 'push' }))} />
        <Btn kind="action" label="Pull from peers" busy={act.busy.value} onClick={() => void job(() => call('mesh_sync', { mode: 'pull' }))} />
      </div>
      <ErrorText error={list.error.value} block />
      {b &&
        (b.backups.length ? (
          <table class="table cbi-section-table ms-list ms-backups">
            <tr class="tr table-titles">
              <th class="th">Made</th>
              <th class="th">Size</th>
              <th class="th">File</th>
              <th class="th cbi-section-actions" />
            </tr>
            {b.backups.map((f) => (
              <tr class="tr cbi-section-table-row" data-backup={f.name} key={f.name}>
                <td class="td" data-title="Made">
                  {new Date(f.created).toLocaleString()}
                </td>
                <td class="td" data-title="Size">
                  {bytes(f.bytes)}
                </td>
                <td class="td ms-addr" data-title="File">
                  {f.name}
                  {!f.encrypted && <span class="label warning"> not encrypted</span>}
                </td>
                <td class="td cbi-section-actions">
                  <Btn kind="negative" label="Restore…" busy={act.busy.value} title={`Restore ${f.name}`} onClick={() => (confirming.value = f.name)} />
                </td>
              </tr>
            ))}
          </table>
        ) : (
          <p class="ms-empty">No backups yet (the newest {b.keep} are kept).</p>
        ))}
      <form
        class="ms-form"
        onSubmit={(e) => {
          e.preventDefault();
          confirming.value = file.value.trim();
        }}
      >
        <Field label="Restore from" name="file" value={file} error={err} placeholder="/absolute/path/to/backup.tar.age" required />
        <div class="cbi-value ms-actions">
          <div class="cbi-value-field">
            <Btn type="submit" kind="negative" label="Restore…" busy={act.busy.value} />
          </div>
        </div>
      </form>
      {confirming.value && b && (
        <RestoreConfirm label={confirming.value} replaces={b.replaces} busy={act.busy.value} onConfirm={() => restore(confirming.value!)} onCancel={() => (confirming.value = null)} />
      )}
      <ErrorText error={formLevel(err, ['file'])} />
      <Done text={act.done.value} />
    </Section>
  );
}

/** The backup key: what it is, and the secret itself only on request (to carry to another node). */
function BackupKey() {
  const key = useLoad(() => call('mesh_key_show'));
  const exported = useAction();
  const secret = useSignal<string | null>(null);
  useEffect(() => void key.load(), []);
  const k = key.data.value;
  return (
    <Section title="Backup key" descr="Backups are encrypted to this key. A node restoring them needs it: keep a copy apart from the backups.">
      <ErrorText error={key.error.value} block />
      {k && (
        <KeyValues
          rows={[
            ['Kind', k.kind ?? 'none yet (made by the first backup)'],
            ...(k.fingerprint ? ([['Fingerprint', <code data-fingerprint>{k.fingerprint}</code>]] as [string, ComponentChildren][]) : []),
            ...(k.recipient ? ([['Recipient', <code>{k.recipient}</code>]] as [string, ComponentChildren][]) : []),
          ]}
        />
      )}
      <div class="ms-buttons">
        <Btn
          kind="neutral"
          label={secret.value ? 'Hide key' : 'Show key for export'}
          busy={exported.busy.value}
          onClick={() =>
            secret.value
              ? (secret.value = null)
              : void exported.run(async () => {
                  const r = await call('mesh_key_export');
                  secret.value = r.key;
                  void key.load();
                })
          }
        />
        {secret.value && <CopyButton text={secret.value} what="the backup key" />}
      </div>
      {secret.value && (
        <p class="ms-secret">
          <code data-backup-key>{secret.value}</code>
        </p>
      )}
      <ErrorText error={exported.error.value} />
    </Section>
  );
}

export function MeshScreen() {
  const mesh = useLoad(() => call('mesh_peers'));
  const peer = useSignal('');
  const add = useAction();
  const toggle = useAction();
  useEffect(() => void mesh.load(), []);
  const m = mesh.data.value;
  const set = (next: Mesh): void => {
    mesh.data.value = next;
  };
  return (
    <>
      <Section title="Mesh peers" descr="Other SecuBox routers that keep this server's backups.">
        <ErrorText error={mesh.error.value} block />
        {!m ? (
          !mesh.error.value && <Loading />
        ) : (
          <>
            <KeyValues rows={[['Mesh sync', <span class={`label ${m.enabled ? 'success' : 'warning'}`}>{m.enabled ? 'enabled' : 'disabled'}</span>]]} />
            {may(m.enabled ? 'mesh_disable' : 'mesh_enable') && (
              <div class="ms-buttons">
                <Btn
                  kind={m.enabled ? 'negative' : 'positive'}
                  label={m.enabled ? 'Disable sync' : 'Enable sync'}
                  busy={toggle.busy.value}
                  onClick={() => void toggle.run(async () => set(await (m.enabled ? call('mesh_disable') : call('mesh_enable'))))}
                />
                <ErrorText error={toggle.error.value} />
              </div>
            )}
            {m.peers.length ? (
              <table class="table cbi-section-table ms-list">
                <tr class="tr table-titles">
                  <th class="th">Peer</th>
                  <th class="th">Reached as</th>
                  <th class="th cbi-section-actions" />
                </tr>
                {m.peers.map((p) => (
                  <PeerRow key={p} peer={p} resolved={m.resolved.find((r) => r.peer === p)} onChanged={set} />
                ))}
              </table>
            ) : (
              <p class="ms-empty">No peers yet.</p>
            )}
            {may('mesh_add_peer') && (
              <form
                class="ms-form"
                data-form="mesh_add_peer"
                onSubmit={(e) => {
                  e.preventDefault();
                  void add.run(async () => {
                    set(await call('mesh_add_peer', { peer: peer.value.trim() }));
                    peer.value = '';
                  });
                }}
              >
                <Field label="New peer" name="peer" value={peer} error={add.error.value} placeholder="peer-1a2b3c4d, backup@nas.lan:22 or rest:https://nas.lan:8000/mail" required />
                <div class="cbi-value ms-actions">
                  <div class="cbi-value-field">
                    <Btn type="submit" kind="positive" label="Add peer" busy={add.busy.value} />
                    <ErrorText error={formLevel(add.error.value, ['peer'])} />
                  </div>
                </div>
              </form>
            )}
          </>
        )}
      </Section>
      {may('mesh_backup') && <BackupActions />}
      {may('mesh_key_export') && <BackupKey />}
    </>
  );
}
