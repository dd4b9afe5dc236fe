// Argument declarations: one line per argument says how it is validated, how rpcd's `list`
// shows it, and how the CLI takes it (positional word, --flag, or a secret never on argv).
import * as v from '../config/validate.ts';
import { parseImport } from '../store/import.ts';

export type ArgKind = 'string' | 'boolean' | 'integer' | 'array' | 'object';

export interface Arg<T> {
  readonly kind: ArgKind;
  readonly required: boolean;
  readonly positional: boolean;
  /** Secrets come from a no-echo prompt or --password-stdin on the CLI, never from argv. */
  readonly secret: boolean;
  /** A secret of many lines (a list with passwords): the CLI takes the whole of stdin. */
  readonly lines: boolean;
  readonly doc: string;
  readonly parse: (field: string, value: unknown) => T;
  optional(): Arg<T | undefined>;
  /** Taken as the next positional word on the CLI. */
  word(): Arg<T>;
  /**
   * The same argument with a stricter check of its own (a job id, a peer id). optional() and
   * word() of the result keep that check: they rebuild from the argument they are called on.
   */
  checked<U>(parse: (field: string, value: unknown) => U): Arg<U>;
}

function make<T>(kind: ArgKind, doc: string, parse: (field: string, value: unknown) => T, extra: Partial<Arg<T>> = {}): Arg<T> {
  const arg: Arg<T> = {
    kind,
    doc,
    parse,
    required: true,
    positional: false,
    secret: false,
    lines: false,
    ...extra,
    optional() {
      return make<T | undefined>(this.kind, this.doc, this.parse, { ...pick(this), required: false });
    },
    word() {
      return make<T>(this.kind, this.doc, this.parse, { ...pick(this), positional: true });
    },
    checked<U>(check: (field: string, value: unknown) => U) {
      return make<U>(this.kind, this.doc, check, pick(this));
    },
  };
  return arg;
}

type Flags = Pick<Arg<unknown>, 'required' | 'positional' | 'secret' | 'lines'>;

function pick(a: Flags): Flags {
  return { required: a.required, positional: a.positional, secret: a.secret, lines: a.lines };
}

export const arg = {
  /** One of our own mailboxes: the strict name rules. */
  email: (doc: string) => make('string', doc, v.ownAddress),
  /** Any address (an alias target may be outside). */
  anyEmail: (doc: string) => make('string', doc, v.emailAddress),
  aliasSource: (doc: string) => make('string', doc, v.aliasSource),
  /** One address or a comma-separated list, normalised to a list. */
  addressList: (doc: string) =>
    make('string', doc, (field, value) => {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : null;
      if (!items) throw new v.ValidationError(field, 'must be an address or a comma-separated list of addresses');
      if (items.length > 100) throw new v.ValidationError(field, 'at most 100 addresses');
      const list = items.map((s: unknown) => (typeof s === 'string' ? s.trim() : s)).filter((s) => s !== '');
      if (list.length === 0) throw new v.ValidationError(field, 'at least one address is needed');
      return [...new Set(list.map((s) => v.emailAddress(field, s)))];
    }),
  domain: (doc: string) => make('string', doc, v.domainName),
  password: (doc: string) => make('string', doc, v.password, { secret: true }),
  /** Mailboxes to import (CSV or JSON lines with passwords): checked whole at the door. */
  mailboxList: (doc: string) =>
    make('string', doc, (field, value) => {
      if (typeof value !== 'string') throw new v.ValidationError(field, 'must be the list as text (CSV or JSON lines)');
      return parseImport(value);
    }, { secret: true, lines: true }),
  size: (doc: string) => make('string', doc, v.size),
  relayHost: (doc: string) => make('string', doc, v.relayHost),
  absolutePath: (doc: string) => make('string', doc, v.absolutePath),
  meshPeer: (doc: string) => make('string', doc, v.meshPeer),
  text: (doc: string, max = 256) =>
    make('string', doc, (field, value) => {
      if (typeof value !== 'string') throw new v.ValidationError(field, 'must be a string');
      if (value.length > max || /[\0-\x1f\x7f]/.test(value)) throw new v.ValidationError(field, `must be at most ${max} printable characters`);
      return value;
    }),
  integer: (doc: string, min: number, max: number) => make('integer', doc, (f, x) => v.integer(f, x, min, max)),
  flag: (doc: string) => make('boolean', doc, v.boolean),
  oneOf: <T extends string>(doc: string, allowed: readonly T[]) => make('string', doc, (f, x) => v.oneOf(f, x, allowed)),
};

export type ArgSpec = Record<string, Arg<unknown>>;
export type ArgValues<S extends ArgSpec> = { [K in keyof S]: S[K] extends Arg<infer T> ? T : never };

/** The example value rpcd's `list` prints for each argument type. */
export function signatureExample(a: Arg<unknown>): unknown {
  switch (a.kind) {
    case 'string':
      return 'str';
    case 'boolean':
      return true;
    case 'integer':
      return 32;
    case 'array':
      return [];
    case 'object':
      return {};
  }
}

/**
 * Validate a JSON argument object against a spec. Unknown keys are refused (a typo must not
 * silently do something else); rpcd's own `ubus_rpc_session` is accepted and ignored.
 */
export function parseArgs<S extends ArgSpec>(spec: S, input: unknown): ArgValues<S> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new v.ValidationError('', 'arguments must be a JSON object');
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== 'ubus_rpc_session' && !(key in spec)) throw new v.ValidationError(key.slice(0, 64), 'unknown argument');
  }
  const out: Record<string, unknown> = {};
  for (const [name, a] of Object.entries(spec)) {
    const value = given[name];
    if (value === undefined || value === null || value === '') {
      if (a.required) throw new v.ValidationError(name, 'is required');
      continue;
    }
    out[name] = a.parse(name, value);
  }
  return out as ArgValues<S>;
}
