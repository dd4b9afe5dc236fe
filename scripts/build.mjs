// Bundles the backend into standalone executables (no node_modules at runtime, Node 18+).
import { build } from 'esbuild';
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}rpcd`;
mkdirSync(out, { recursive: true });
// The executables are CommonJS without an extension; this keeps Node from reading them as ESM here.
writeFileSync(`${out}/package.json`, '{ "type": "commonjs" }\n');

const entries = { mailctl: 'src-rpc/cli/main.ts' };
for (const [name, entry] of Object.entries(entries)) {
  await build({
    entryPoints: [`${root}${entry}`],
    outfile: `${out}/${name}`,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  chmodSync(`${out}/${name}`, 0o755);
}
