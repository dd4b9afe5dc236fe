// Bundles the backend into standalone executables (no node_modules at runtime, Node 18+) and
// derives from the method table what must follow it: rpcd's `list` signature and the ACL.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}rpcd`;
mkdirSync(out, { recursive: true });
// The executables are CommonJS without an extension; this keeps Node from reading them as ESM here.
writeFileSync(`${out}/package.json`, '{ "type": "commonjs" }\n');

const bundles = { mailctl: 'src-rpc/cli/main.ts', 'luci.mailserver.js': 'src-rpc/rpcd/main.ts' };
for (const [name, entry] of Object.entries(bundles)) {
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

// rpcd runs `list` synchronously at every start and reload: answer it from a file made here,
// in sh, without starting Node. LIB is rewritten to the installed path by the package build.
const signature = execFileSync(process.execPath, [`${out}/luci.mailserver.js`, 'list'], { encoding: 'utf8' });
writeFileSync(`${out}/luci.mailserver.list.json`, `${signature}\n`);
writeFileSync(
  `${out}/luci.mailserver`,
  `#!/bin/sh
LIB="\${0%/*}"
[ "$1" = list ] && exec cat "$LIB/luci.mailserver.list.json"
exec node "$LIB/luci.mailserver.js" "$@"
`,
);
chmodSync(`${out}/luci.mailserver`, 0o755);

// The ACL follows from the table: read methods in read, the rest in write; the delegated
// accounts group gets the mailbox and alias methods only.
const table = JSON.parse(execFileSync(process.execPath, [`${out}/luci.mailserver.js`, 'describe'], { encoding: 'utf8' }));
const names = (pick) => table.filter(pick).map((m) => m.name);
const acl = {
  'luci-app-mailserver': {
    description: 'Grant access to the mail server',
    read: { ubus: { 'luci.mailserver': names((m) => m.access === 'read') }, uci: ['mailserver'] },
    write: { ubus: { 'luci.mailserver': names((m) => m.access === 'write') }, uci: ['mailserver'] },
  },
  'luci-app-mailserver-accounts': {
    description: 'Manage mailboxes and aliases of the mail server (nothing else)',
    read: { ubus: { 'luci.mailserver': names((m) => m.accounts && m.access === 'read') } },
    write: { ubus: { 'luci.mailserver': names((m) => m.accounts && m.access === 'write') } },
  },
};
mkdirSync(`${root}acl.d`, { recursive: true });
writeFileSync(`${root}acl.d/luci-app-mailserver.json`, `${JSON.stringify(acl, null, '\t')}\n`);
writeFileSync(`${out}/methods.json`, `${JSON.stringify(table, null, 1)}\n`);
