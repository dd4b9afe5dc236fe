// Aliases and catch-alls (@domain): targets, add (merges into an existing alias), remove one
// target or the whole alias.
import { useSignal } from '@preact/signals';
import { usePagedList, SearchForm } from '../paged.tsx';
import { call } from '../client.ts';
import { may } from '../rights.ts';
import { Btn, Confirm, Done, ErrorText, Field, formLevel, Loading, Pager, Section, useAction } from '../ui.tsx';
import type { Alias } from '../types.ts';

const PAGE_SIZE = 25;

function AddAlias({ onAdded }: { onAdded: () => void }) {
  const alias = useSignal('');
  const target = useSignal('');
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await call('alias_add', { alias: alias.value.trim(), target: target.value.trim() });
      alias.value = target.value = '';
      onAdded();
      return `${r.alias} → ${r.targets.join(', ')}`;
    });
  };
  const err = act.error.value;
  return (
    <Section title="Add an alias">
      <form class="ms-form" onSubmit={submit} data-form="alias_add">
        <Field label="Alias" name="alias" value={alias} error={err} placeholder="info@example.com" hint="an address of one of your domains, or @example.com for a catch-all" required />
        <Field label="Deliver to" name="target" value={target} error={err} placeholder="alice@example.com, bob@example.net" hint="one address or several, separated by commas; adding to an existing alias merges" required />
        <div class="cbi-value ms-actions">
          <div class="cbi-value-field">
            <Btn type="submit" kind="positive" label="Add alias" busy={act.busy.value} />
            <ErrorText error={formLevel(err, ['alias', 'target'])} />
            <Done text={act.done.value} />
          </div>
        </div>
      </form>
    </Section>
  );
}

function AliasRow({ a, onChanged }: { a: Alias; onChanged: () => void }) {
  const confirming = useSignal(false);
  const act = useAction();
  const del = (target?: string) =>
    act.run(async () => {
      await call('alias_del', { alias: a.alias, target });
      confirming.value = false;
      onChanged();
    });
  const catchAll = a.alias.startsWith('@');
  return (
    <>
      <tr class="tr cbi-section-table-row" data-alias={a.alias}>
        <td class="td ms-addr" data-title="Alias">
          {a.alias} {catchAll && <span class="label notice">catch-all</span>}
        </td>
        <td class="td" data-title="Delivers to">
          <ul class="ms-targets">
            {a.targets.map((t) => (
              <li key={t}>
                {t}
                {may('alias_del') && a.targets.length > 1 && <Btn kind="negative" label="×" title={`Stop delivering ${a.alias} to ${t}`} busy={act.busy.value} onClick={() => void del(t)} />}
              </li>
            ))}
          </ul>
        </td>
        <td class="td cbi-section-actions">
          {may('alias_del') && (
            <div>
              <Btn kind="negative" label="Delete" onClick={() => (confirming.value = !confirming.value)} />
            </div>
          )}
          {!confirming.value && <ErrorText error={act.error.value} />}
        </td>
      </tr>
      {confirming.value && (
        <tr class="tr ms-rowform">
          <td class="td" colSpan={3}>
            <Confirm
              question={
                <>
                  Delete the {catchAll ? 'catch-all' : 'alias'} <strong>{a.alias}</strong>? Mail to it will be refused.
                </>
              }
              confirmLabel={`Delete ${a.alias}`}
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

export function AliasesScreen() {
  const list = usePagedList('alias_list', PAGE_SIZE);
  const { search, offset, error, load } = list;
  const p = list.page.value;
  return (
    <>
      {may('alias_add') && <AddAlias onAdded={() => void load()} />}
      <Section title="Aliases">
        <SearchForm list={list} label="Search aliases" placeholder="Search aliases and targets" />
        <ErrorText error={error.value} block />
        {!p ? (
          !error.value && <Loading />
        ) : p.items.length === 0 ? (
          <p class="ms-empty">{search.value ? `No alias contains “${search.value}”.` : 'No aliases yet. postmaster@ and abuse@ of every domain always reach the postmaster.'}</p>
        ) : (
          <table class="table cbi-section-table ms-list">
            <tr class="tr table-titles">
              <th class="th">Alias</th>
              <th class="th">Delivers to</th>
              <th class="th cbi-section-actions" />
            </tr>
            {p.items.map((a) => (
              <AliasRow key={a.alias} a={a} onChanged={() => void load()} />
            ))}
          </table>
        )}
        {p && <Pager total={p.total} offset={p.offset} size={PAGE_SIZE} onPage={(o) => (offset.value = o)} />}
      </Section>
    </>
  );
}
