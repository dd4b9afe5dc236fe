// A searchable, paged list backed by one *_list method: the state and the search form the
// Mailboxes and Aliases screens share.
import { useEffect } from 'preact/hooks';
import { useSignal, type Signal } from '@preact/signals';
import { call, CallError } from './client.ts';
import { Btn } from './ui.tsx';
import type { Result } from './types.ts';

type ListMethod = 'user_list' | 'alias_list';

export interface PagedList<M extends ListMethod> {
  /** What is in the search box; `search` is what was last searched for. */
  typed: Signal<string>;
  search: Signal<string>;
  offset: Signal<number>;
  page: Signal<Result<M> | null>;
  error: Signal<CallError | null>;
  loading: Signal<boolean>;
  load: () => Promise<void>;
}

export function usePagedList<M extends ListMethod>(method: M, size: number): PagedList<M> {
  const list: PagedList<M> = {
    typed: useSignal(''),
    search: useSignal(''),
    offset: useSignal(0),
    page: useSignal<Result<M> | null>(null),
    error: useSignal<CallError | null>(null),
    loading: useSignal(false),
    load: async () => {
      list.loading.value = true;
      try {
        list.page.value = await call(method, { offset: list.offset.value, limit: size, search: list.search.value || undefined });
        list.error.value = null;
      } catch (e) {
        list.error.value = e as CallError;
      } finally {
        list.loading.value = false;
      }
    },
  };
  useEffect(() => void list.load(), [list.offset.value, list.search.value]);
  return list;
}

export function SearchForm({ list, label, placeholder }: { list: PagedList<ListMethod>; label: string; placeholder: string }) {
  return (
    <form
      class="ms-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        list.offset.value = 0;
        list.search.value = list.typed.value.trim();
      }}
    >
      <input type="search" class="cbi-input-text" aria-label={label} placeholder={placeholder} value={list.typed.value} onInput={(e) => (list.typed.value = e.currentTarget.value)} />
      <Btn type="submit" kind="action" label="Search" busy={list.loading.value} />
    </form>
  );
}
