// The method table as data: rpcd's `list` signature, the ACL file and the UI's typed client
// are all generated from this at build time, so none of them can drift from the table.
import { signatureExample } from './args.ts';
import type { Method } from './method.ts';

export interface MethodDescription {
  name: string;
  access: 'read' | 'write';
  accounts: boolean;
  doc: string;
  cli: string[];
  args: Record<string, { kind: string; required: boolean; secret: boolean; doc: string }>;
}

export function describe(methods: readonly Method[]): MethodDescription[] {
  return methods.map((m) => ({
    name: m.name,
    access: m.access,
    accounts: m.accounts === true,
    doc: m.doc,
    cli: m.cli,
    args: Object.fromEntries(Object.entries(m.args).map(([n, a]) => [n, { kind: a.kind, required: a.required, secret: a.secret, doc: a.doc }])),
  }));
}

/** `{method: {arg: example}}` as rpcd's exec-plugin `list` must print it. */
export function rpcdSignature(methods: readonly Method[]): Record<string, Record<string, unknown>> {
  return Object.fromEntries(methods.map((m) => [m.name, Object.fromEntries(Object.entries(m.args).map(([n, a]) => [n, signatureExample(a)]))]));
}
