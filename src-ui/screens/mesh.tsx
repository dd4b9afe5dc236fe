// Backup & mesh: the peers that receive encrypted backups, sync on/off, and the backup,
// sync and restore actions (not implemented by the backend yet: the page says so).
import { useEffect } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { call, isJobStarted } from '../client.ts';
import { trackJob } from '../state.ts';
import { may } from '../rights.ts';
import { Btn, Confirm, Done, ErrorText, Field, formLevel, KeyValues, Loading, Section, useAction, useLoad } from '../ui.tsx';
import type { Mesh } from '../types.ts';

function PeerRow({ peer, onChanged }: { peer: string; onChanged: (m: Mesh) => void }) {
  const act = useAction();
  return (
    <tr class="tr cbi-section-table-row" data-peer={peer}>
      <td class="td ms-addr" data-title="Peer">
        {peer}
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

function BackupActions() {
  const act = useAction();
  const file = useSignal('');
  const confirming = useSignal(false);
  const job = (fn: () => Promise<object>) =>
    act.run(async () => {
      const r = await fn();
      if (isJobStarted(r)) {
        trackJob(r);
        return 'Started: see the progress bar above.';
      }
      return 'Done.';
    });
  const err = act.error.value;
  return (
    <Section title="Backups" descr="Encrypted backups of mail, accounts and keys, kept on the mesh peers.">
      <div class="ms-buttons">
        <Btn kind="action" label="Back up now" busy={act.busy.value} onClick={() => void job(() => call('mesh_backup'))} />
        <Btn kind="action" label="Push to peers" busy={act.busy.value} onClick={() => void job(() => call('mesh_sync', { mode: 'push' }))} />
        <Btn kind="action" label="Pull from peers" busy={act.busy.value} onClick={() => void job(() => call('mesh_sync', { mode: 'pull' }))} />
      </div>
      <form
        class="ms-form"
        onSubmit={(e) => {
          e.preventDefault();
          confirming.value = true;
        }}
      >
        <Field label="Restore from" name="file" value={file} error={err} placeholder="backup file or snapshot id" required />
        <div class="cbi-value ms-actions">
          <div class="cbi-value-field">
            <Btn type="submit" kind="negative" label="Restore…" busy={act.busy.value} />
          </div>
        </div>
      </form>
      {confirming.value && (
        <Confirm
          question={
            <>
              Restore mail and accounts from <strong>{file.value}</strong>? What is here now is replaced.
            </>
          }
          confirmLabel={`Restore ${file.value}`}
          busy={act.busy.value}
          onConfirm={() => void job(() => call('mesh_restore', { file: file.value.trim() })).then(() => (confirming.value = false))}
          onCancel={() => (confirming.value = false)}
        />
      )}
      <ErrorText error={formLevel(err, ['file'])} />
      <Done text={act.done.value} />
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
                  <th class="th cbi-section-actions" />
                </tr>
                {m.peers.map((p) => (
                  <PeerRow key={p} peer={p} onChanged={set} />
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
                <Field label="New peer" name="peer" value={peer} error={add.error.value} placeholder="router-2.mesh" required />
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
    </>
  );
}
