// The house has no upward stairs: the floors below the method table never import from it, from
// the doors, or from the runtime (features get the runtime as ctx.daemons instead).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src-rpc');

/** floor → the floors it must never import from */
const FORBIDDEN: Record<string, string[]> = {
  sys: ['api', 'cli', 'rpcd', 'runtime', 'core', 'config', 'render', 'store', 'dns', 'dkim', 'ssl', 'jobs', 'ban'],
  core: ['api', 'cli', 'rpcd', 'runtime'],
  config: ['api', 'cli', 'rpcd', 'runtime'],
  render: ['api', 'cli', 'rpcd', 'runtime'],
  store: ['api', 'cli', 'rpcd', 'runtime'],
  dns: ['api', 'cli', 'rpcd', 'runtime'],
  dkim: ['api', 'cli', 'rpcd', 'runtime'],
  ssl: ['api', 'cli', 'rpcd', 'runtime'],
  jobs: ['api', 'cli', 'rpcd', 'runtime'],
  ban: ['api', 'cli', 'rpcd', 'runtime'],
  webmail: ['api', 'cli', 'rpcd', 'runtime'],
  mesh: ['api', 'cli', 'rpcd', 'runtime'],
  firewall: ['api', 'cli', 'rpcd', 'runtime'],
  runtime: ['api', 'cli', 'rpcd'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every relative module a file imports, static or dynamic, as a path under src-rpc. */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, resolve(dirname(file), s)));
}

test('the import scanner sees static, type-only and dynamic imports', () => {
  const file = join(SRC, 'dns/x.ts');
  const text = "import { a } from '../api/errors.ts';\nimport type { B } from \"../runtime/host.ts\";\nconst m = await import('../cli/main.ts');";
  assert.equal(importsOf(file, text), ['api/errors.ts', 'runtime/host.ts', 'cli/main.ts']);
});

test('no floor imports from a floor above it', () => {
  const violations: string[] = [];
  for (const file of sources(SRC)) {
    const floor = relative(SRC, file).split('/')[0]!;
    const banned = FORBIDDEN[floor];
    if (!banned) continue;
    for (const target of importsOf(file, readFileSync(file, 'utf8'))) {
      if (banned.includes(target.split('/')[0]!)) violations.push(`${relative(SRC, file)} imports ${target}`);
    }
  }
  assert.equal(violations, []);
});

test('every floor of src-rpc is either checked or a top floor', () => {
  const floors = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const top = ['api', 'cli', 'rpcd'];
  assert.equal(floors.filter((f) => !FORBIDDEN[f] && !top.includes(f)), []);
});

test.run();
