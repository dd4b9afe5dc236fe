// Every list method pages: a ubus reply is at most 1 MiB and LuCI shows one page anyway.
import { arg } from './args.ts';

export const pageArgs = {
  offset: arg.integer('skip this many entries', 0, 1_000_000).optional(),
  limit: arg.integer('return at most this many entries (default 1000)', 1, 10_000).optional(),
  search: arg.text('only entries containing this text', 254).optional(),
};

type PageOptions = { offset?: number; limit?: number; search?: string };

export interface Page<T> {
  total: number;
  offset: number;
  items: T[];
}

export function page<T>(all: T[], key: (item: T) => string, opts: PageOptions): Page<T> {
  const needle = opts.search?.toLowerCase();
  const matching = needle ? all.filter((item) => key(item).includes(needle)) : all;
  return pageOf({ total: matching.length, slice: (from, to) => matching.slice(from, to) }, opts);
}

/** The page of a list that cuts itself (no search): what is outside the page is never built. */
export function pageOf<T>(list: { total: number; slice(from: number, to: number): T[] }, opts: Omit<PageOptions, 'search'>): Page<T> {
  const offset = opts.offset ?? 0;
  return { total: list.total, offset, items: list.slice(offset, offset + (opts.limit ?? 1000)) };
}
