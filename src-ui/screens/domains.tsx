// Mail domains (main.domain + main.extra_domain) and the outbound relay host.
import { useEffect } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { call, CallError } from '../client.ts';
import { may } from '../rights.ts';
import { Btn, Confirm, Done, ErrorText, Field, formLevel, KeyValues, Loading, Section, useAction } from '../ui.tsx';
import type { Domain, Relay } from '../types.ts';

function DomainRow({ d, onChanged }: { d: Domain; onChanged: () => void }) {
  const confirming = useSignal(false);
  const act = useAction();
  const del = () =>
    act.run(async () => {
      await call('domain_del', { domain: d.domain });
      confirming.value = false;
      onChanged();
    });
  return (
    <>
      <tr class="tr cbi-section-table-row" data-domain={d.domain}>
        <td class="td ms-addr" data-title="Domain">
          {d.domain} {d.primary && <span class="label notice">primary</span>}
        </td>
        <td class="td" data-title="Mailboxes">
          {d.mailboxes}
        </td>
        <td class="td" data-title="Aliases">
          {d.aliases}
        </td>
        <td class="td cbi-section-actions">
          {may('domain_del') && !d.primary && (
            <div>
              <Btn kind="negative" label="Delete" onClick={() => (confirming.value = !confirming.value)} />
            </div>
          )}
          {!confirming.value && <ErrorText error={act.error.value} />}
        </td>
      </tr>
      {confirming.value && (
        <tr class="tr ms-rowform">
          <td class="td" colSpan={4}>
            <Confirm
              question={
                <>
                  Stop receiving mail for <strong>{d.domain}</strong>? Only a domain without mailboxes and aliases can go.
                </>
              }
              confirmLabel={`Delete ${d.domain}`}
              busy={act.busy.value}
              onConfirm={() => void del()}
              onCancel={() => (confirming.value = false)}
            >
              <ErrorText error={act.error.value} />
            </Confirm>
          </td>
        </tr>
      )}
    </>
  );
}

function AddDomain({ onAdded }: { onAdded: () => void }) {
  const domain = useSignal('');
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await call('domain_add', { domain: domain.value.trim() });
      domain.value = '';
      onAdded();
      return `Added ${r.domain}: point its MX record at this mail host.`;
    });
  };
  return (
    <form class="ms-form" onSubmit={submit} data-form="domain_add">
      <Field label="New domain" name="domain" value={domain} error={act.error.value} placeholder="example.org" required />
      <div class="cbi-value ms-actions">
        <div class="cbi-value-field">
          <Btn type="submit" kind="positive" label="Add domain" busy={act.busy.value} />
          <ErrorText error={formLevel(act.error.value, ['domain'])} />
          <Done text={act.done.value} />
        </div>
      </div>
    </form>
  );
}

function RelaySection() {
  const relay = useSignal<Relay | null>(null);
  const error = useSignal<CallError | null>(null);
  const host = useSignal('');
  const user = useSignal('');
  const password = useSignal('');
  const act = useAction();
  const load = async () => {
    try {
      relay.value = await call('relay_show');
      error.value = null;
    } catch (e) {
      error.value = e as CallError;
    }
  };
  useEffect(() => void load(), []);
  const set = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      relay.value = await call('relay_set', { host: host.value.trim(), user: user.value.trim() || undefined, password: password.value || undefined });
      host.value = user.value = password.value = '';
      return 'Relay host set.';
    });
  };
  const clear = () =>
    act.run(async () => {
      relay.value = await call('relay_clear');
      return 'Outbound mail is delivered directly again.';
    });
  const r = relay.value;
  const err = act.error.value;
  return (
    <Section title="Outbound relay" descr="Send outgoing mail through your provider's smarthost, e.g. when port 25 is blocked.">
      <ErrorText error={error.value} block />
      {r && <KeyValues rows={[['Relay host', r.relayhost ? `${r.relayhost}${r.user ? ` (login ${r.user})` : ''}` : 'none: mail is delivered directly']]} />}
      {may('relay_set') && (
        <form class="ms-form" onSubmit={set} data-form="relay_set">
          <Field label="Relay host" name="host" value={host} error={err} placeholder="[smtp.example.net]:587" hint="[host]:port; brackets mean no MX lookup" required />
          <Field label="Login" name="user" value={user} error={err} placeholder="optional" />
          <Field label="Password" name="password" type="password" value={password} error={err} autocomplete="new-password" placeholder="with a login" />
          <div class="cbi-value ms-actions">
            <div class="cbi-value-field">
              <Btn type="submit" kind="positive" label="Set relay" busy={act.busy.value} />
              {r?.relayhost && may('relay_clear') && <Btn kind="negative" label="Clear relay" busy={act.busy.value} onClick={() => void clear()} />}
              <ErrorText error={formLevel(err, ['host', 'user', 'password'])} />
              <Done text={act.done.value} />
            </div>
          </div>
        </form>
      )}
    </Section>
  );
}

export function DomainsScreen() {
  const list = useSignal<Domain[] | null>(null);
  const error = useSignal<CallError | null>(null);
  const load = async () => {
    try {
      list.value = (await call('domain_list')).items;
      error.value = null;
    } catch (e) {
      error.value = e as CallError;
    }
  };
  useEffect(() => void load(), []);
  const l = list.value;
  return (
    <>
      <Section title="Mail domains" descr="Every domain's MX record must point at this mail host.">
        <ErrorText error={error.value} block />
        {!l ? (
          !error.value && <Loading />
        ) : (
          <table class="table cbi-section-table ms-list">
            <tr class="tr table-titles">
              <th class="th">Domain</th>
              <th class="th">Mailboxes</th>
              <th class="th">Aliases</th>
              <th class="th cbi-section-actions" />
            </tr>
            {l.map((d) => (
              <DomainRow key={d.domain} d={d} onChanged={() => void load()} />
            ))}
          </table>
        )}
        {may('domain_add') && <AddDomain onAdded={() => void load()} />}
      </Section>
      <RelaySection />
    </>
  );
}
