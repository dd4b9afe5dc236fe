// Mailboxes: one page of user_list at a time (search runs on the router) with each mailbox's
// stored mail against its quota, add with password confirmation and a strength hint, change
// password, quota, delete after naming the address. What "default" quota means comes from
// overview.quota.
import { useEffect } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { usePagedList, SearchForm } from '../paged.tsx';
import { call, CallError } from '../client.ts';
import { loadOverview, overview } from '../state.ts';
import { may } from '../rights.ts';
import { bytes, defaultQuota, quota as quotaText, quotaLimit, sizeArg, strength } from '../format.ts';
import { Btn, Confirm, Done, ErrorText, Field, fieldError, formLevel, Loading, Pager, Section, useAction } from '../ui.tsx';
import type { MailboxListed } from '../types.ts';

export const PAGE_SIZE = 25;

function StrengthHint({ pw }: { pw: string }) {
  const s = strength(pw);
  return (
    <span class={`ms-strength ms-strength-${s.level}`} data-level={s.level}>
      <span class="ms-meter" aria-hidden="true">
        <span style={{ width: `${s.level * 25}%` }} />
      </span>
      Strength: {s.text}
    </span>
  );
}

/** "1.2 MiB of 2 GiB" over a bar, or "1.2 MiB (unlimited)"; the quota alone when usage was not counted. */
function Usage({ m }: { m: MailboxListed }) {
  const server = overview.value?.quota;
  const limit = quotaLimit(m.quota, server);
  if (m.usage === null) return <>{quotaText(m.quota)}</>;
  const used = bytes(m.usage);
  if (limit === null) return <>{`${used} (default quota)`}</>;
  if (limit === 0) return <>{`${used} (${server?.enabled === false ? 'quotas off' : 'unlimited'})`}</>;
  const pct = Math.min(100, Math.round((m.usage / limit) * 100));
  return (
    <>
      {`${used} of ${bytes(limit)}`}
      <div class="cbi-progressbar ms-usage" role="meter" aria-label={`mail stored by ${m.email}`} aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100}>
        <div style={{ width: `${pct}%` }} />
      </div>
    </>
  );
}

/** overview.quota.enabled, assumed on until the overview arrives (the backend refuses anyway). */
const quotasOn = () => overview.value?.quota.enabled !== false;
const QUOTA_HINT = 'e.g. 2G or 500M; 0 = unlimited';

/** Password + confirmation; returns the error to show, or null when they agree. */
function checkPasswords(pw: string, confirm: string): CallError | null {
  if (pw !== confirm) return fieldError('confirm', 'does not match the password');
  return null;
}

function AddMailbox({ onAdded }: { onAdded: (email: string) => void }) {
  const email = useSignal('');
  const pw = useSignal('');
  const confirm = useSignal('');
  const quota = useSignal('');
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const bad = checkPasswords(pw.value, confirm.value);
      if (bad) throw bad;
      const r = await call('user_add', { email: email.value.trim(), password: pw.value, quota: quota.value.trim() || undefined });
      email.value = pw.value = confirm.value = quota.value = '';
      onAdded(r.email);
      return `Created ${r.email}.`;
    });
  };
  const err = act.error.value;
  return (
    <Section title="Add a mailbox">
      <form class="ms-form" onSubmit={submit} data-form="user_add">
        <Field label="Address" name="email" value={email} error={err} placeholder="name@example.com" inputMode="email" required />
        <Field label="Password" name="password" type="password" value={pw} error={err} autocomplete="new-password" hint={<StrengthHint pw={pw.value} />} required />
        <Field label="Confirm password" name="confirm" type="password" value={confirm} error={err} autocomplete="new-password" required />
        {quotasOn() && <Field label="Quota" name="quota" value={quota} error={err} placeholder="default" hint={`${QUOTA_HINT}; empty = ${defaultQuota(overview.value?.quota)}`} />}
        <div class="cbi-value ms-actions">
          <div class="cbi-value-field">
            <Btn type="submit" kind="positive" label="Add mailbox" busy={act.busy.value} />
            <ErrorText error={formLevel(err, ['email', 'password', 'confirm', 'quota'])} />
            <Done text={act.done.value} />
          </div>
        </div>
      </form>
    </Section>
  );
}

type Mode = 'none' | 'passwd' | 'quota' | 'delete';

/** The browser saves the profile; nothing of it stays in the page. */
async function downloadProfile(email: string): Promise<string> {
  const p = await call('user_profile', { email });
  const url = URL.createObjectURL(new Blob([p.content], { type: p.contentType }));
  const a = document.createElement('a');
  a.href = url;
  a.download = p.filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return `Saved ${p.filename}.`;
}

function MailboxRow({ m, onChanged }: { m: MailboxListed; onChanged: () => void }) {
  const mode = useSignal<Mode>('none');
  const pw = useSignal('');
  const confirm = useSignal('');
  const q = useSignal('');
  const purge = useSignal(false);
  const act = useAction();
  const open = (next: Mode) => {
    mode.value = mode.value === next ? 'none' : next;
    act.error.value = null;
    act.done.value = '';
    pw.value = confirm.value = '';
    q.value = m.quota === null ? '' : sizeArg(m.quota);
  };
  const save = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      if (mode.value === 'passwd') {
        const bad = checkPasswords(pw.value, confirm.value);
        if (bad) throw bad;
        await call('user_passwd', { email: m.email, password: pw.value });
        mode.value = 'none';
        return 'Password changed.';
      }
      await call('user_quota', { email: m.email, quota: q.value.trim() || 'default' });
      mode.value = 'none';
      onChanged();
      return 'Quota changed.';
    });
  };
  const remove = () =>
    act.run(async () => {
      await call('user_del', { email: m.email, purge: purge.value || undefined });
      mode.value = 'none';
      onChanged();
    });
  const err = act.error.value;
  return (
    <>
      <tr class="tr cbi-section-table-row" data-email={m.email}>
        <td class="td ms-addr" data-title="Address">
          {m.email}
        </td>
        <td class="td" data-title="Used / quota" data-usage={m.usage ?? undefined} title={m.quota === null ? 'quota: the server default' : undefined}>
          <Usage m={m} />
        </td>
        <td class="td cbi-section-actions">
          {may('user_profile') && <Btn kind="neutral" label="Apple profile" title="Download a .mobileconfig that sets this mailbox up on iPhone, iPad and Mac (no password inside)" busy={act.busy.value} onClick={() => void act.run(() => downloadProfile(m.email))} />}
          <div>
            {may('user_passwd') && <Btn kind="action" label="Password" onClick={() => open('passwd')} />}
            {may('user_quota') && quotasOn() && <Btn kind="action" label="Quota" onClick={() => open('quota')} />}
            {may('user_del') && <Btn kind="negative" label="Delete" onClick={() => open('delete')} />}
          </div>
          {mode.value === 'none' && <ErrorText error={err} />}
          <Done text={act.done.value} />
        </td>
      </tr>
      {mode.value !== 'none' && (
        <tr class="tr ms-rowform" data-email-form={m.email}>
          <td class="td" colSpan={3}>
            {mode.value === 'delete' ? (
              <Confirm
                question={
                  <>
                    Delete the mailbox <strong>{m.email}</strong>? Its login and address stop working at once.
                  </>
                }
                confirmLabel={`Delete ${m.email}`}
                busy={act.busy.value}
                onConfirm={remove}
                onCancel={() => open('delete')}
              >
                <label class="ms-check">
                  <input type="checkbox" checked={purge.value} onChange={(e) => (purge.value = e.currentTarget.checked)} /> Also delete its stored mail (otherwise it is kept on disk)
                </label>
                <ErrorText error={err} />
              </Confirm>
            ) : (
              <form class="ms-form" onSubmit={save}>
                {mode.value === 'passwd' ? (
                  <>
                    <Field label={`New password for ${m.email}`} name="password" type="password" value={pw} error={err} autocomplete="new-password" hint={<StrengthHint pw={pw.value} />} />
                    <Field label="Confirm password" name="confirm" type="password" value={confirm} error={err} autocomplete="new-password" />
                  </>
                ) : (
                  <Field label={`Quota of ${m.email}`} name="quota" value={q} error={err} placeholder="default" hint={`${QUOTA_HINT}; empty = ${defaultQuota(overview.value?.quota)}`} />
                )}
                <div class="cbi-value ms-actions">
                  <div class="cbi-value-field">
                    <Btn type="submit" kind="positive" label="Save" busy={act.busy.value} />
                    <Btn kind="neutral" label="Cancel" onClick={() => open(mode.value)} />
                    <ErrorText error={formLevel(err, ['password', 'confirm', 'quota'])} />
                  </div>
                </div>
              </form>
            )}
          </td>
        </tr>
      )}
    </>
  );
}

export function MailboxesScreen() {
  const list = usePagedList('user_list', PAGE_SIZE);
  const { typed, search, offset, error, load } = list;
  // The quota settings; the overview also carries the running jobs, so this tab skips job_list.
  // A login limited to accounts may not read the overview: quotas are then assumed on.
  useEffect(() => {
    if (!overview.value && may('overview')) void loadOverview();
  }, []);
  const p = list.page.value;
  return (
    <>
      {may('user_add') && (
        <AddMailbox
          onAdded={() => {
            if (offset.value === 0 && !search.value) return void load();
            offset.value = 0;
            search.value = typed.value = '';
          }}
        />
      )}
      <Section title="Mailboxes">
        <SearchForm list={list} label="Search mailboxes" placeholder="Search addresses" />
        <ErrorText error={error.value} block />
        {!p ? (
          !error.value && <Loading />
        ) : p.items.length === 0 ? (
          <p class="ms-empty">{search.value ? `No mailbox contains “${search.value}”.` : 'No mailboxes yet.'}</p>
        ) : (
          <table class="table cbi-section-table ms-list" data-total={p.total}>
            <tr class="tr table-titles">
              <th class="th">Address</th>
              <th class="th">Used / quota</th>
              <th class="th cbi-section-actions" />
            </tr>
            {p.items.map((m) => (
              <MailboxRow key={m.email} m={m} onChanged={() => void load()} />
            ))}
          </table>
        )}
        {p && <Pager total={p.total} offset={p.offset} size={PAGE_SIZE} onPage={(o) => (offset.value = o)} />}
      </Section>
    </>
  );
}
