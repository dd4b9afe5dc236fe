// Bundles the backend into standalone executables (no node_modules at runtime, Node 18+) and
// derives from the method table what must follow it: rpcd's `list` signature and the ACL.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}rpcd`;

/** Replace a file atomically: a test running the plugin meanwhile sees the old or the new one. */
function put(path, contents, mode = 0o644) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp-build`, contents, { mode });
  renameSync(`${path}.tmp-build`, path);
}

/** esbuild into memory, then put(): never a half-written executable. */
async function bundle(entry, outfile, extra = {}) {
  const result = await build({
    entryPoints: [`${root}${entry}`],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    ...extra,
  });
  for (const file of result.outputFiles) put(file.path, file.contents, extra.banner ? 0o755 : 0o644);
}

// The executables are CommonJS without an extension; this keeps Node from reading them as ESM here.
put(`${out}/package.json`, '{ "type": "commonjs" }\n');

/** lib/<name> that the executable <name> runs. */
const bundleOf = (executable) => `${executable.replace(/\.js$/, '')}-main.js`;

// Node's heavier modules load when the bundle first uses them, not when it starts: child_process,
// crypto, net, v8 and worker_threads (each pulling in the streams) cost a cold call ~15% of Node's
// own start, and `user_list` needs none of them (test/integration/cold-start.test.ts keeps it so).
// Each becomes an empty object whose prototype is a Proxy that requires the real module on the
// first property read: the bundle reaches imports through such reads, and esbuild's interop copies
// only own properties (a getter per export name cost every start ~2 ms of defining and copying them).
const LAZY_BUILTINS = /^node:(child_process|crypto|net|os|v8|worker_threads)$/;
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: LAZY_BUILTINS }, (a) => (a.namespace === 'lazy-builtin' ? { path: a.path, external: true } : { path: a.path, namespace: 'lazy-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (a) => ({
      contents: `let real;\nconst load = () => (real ??= require(${JSON.stringify(a.path)}));\nmodule.exports = Object.create(new Proxy({}, { get: (_, key) => load()[key] }));\n`,
      loader: 'js',
    }));
  },
};

/**
 * The backend's source, named: what its code derives and leaves for the next process
 * (src-rpc/sys/run-memo.ts: the validated settings) is keyed by it, so a new build never takes a
 * value the old code worked out.
 */
function sourceId(dir, hash = createHash('sha256')) {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceId(path, hash);
    else hash.update(`${path.slice(root.length)}\0`).update(readFileSync(path)).update('\0');
  }
  return hash;
}
const codeId = sourceId(`${root}src-rpc`).digest('hex');

// Each executable is a few lines (src-rpc/rpcd/boot.ts) that run its bundle under lib/ from V8's
// code cache, keyed by the bundle's hash: a cold call then skips most of compiling it. It names
// the Node that built it: `#!/usr/bin/env node` cost every cold `mailctl` the start of env (1.0%
// and 1.2% of a `user add` here, paired runs). The package names OpenWrt's /usr/bin/node. A path
// the kernel cannot take on a #! line (blanks, or longer than old kernels read) goes through env.
const shebang = /\s/.test(process.execPath) || process.execPath.length > 120 ? '#!/usr/bin/env node' : `#!${process.execPath}`;
const executables = { mailctl: 'src-rpc/cli/main.ts', 'luci.mailserver.js': 'src-rpc/rpcd/main.ts' };
for (const [name, entry] of Object.entries(executables)) {
  const code = bundleOf(name);
  await bundle(entry, `${out}/lib/${code}`, {
    // ssl/load-acme.ts, mesh/load-engine.ts: load the bundles below at run time instead of bundling them.
    define: { MAILSERVER_BUNDLE: 'true', MAILSERVER_CODE_ID: JSON.stringify(codeId) },
    // A script run by node:vm has no loader for import() (Node 18); require() is the same module.
    supported: { 'dynamic-import': false },
    plugins: [lazyBuiltins],
  });
  const hash = createHash('sha256').update(readFileSync(`${out}/lib/${code}`)).digest('hex');
  await bundle('src-rpc/rpcd/boot.ts', `${out}/${name}`, {
    banner: { js: shebang },
    define: { BOOT_BUNDLE: JSON.stringify(code), BOOT_BUNDLE_HASH: JSON.stringify(hash) },
  });
}

// Code only some methods need is not parsed by the others: the ACME client (acme-client, axios,
// node-forge) is lib/acme.js, required by ssl-setup/ssl-renew only (src-rpc/ssl/load-acme.ts).
await bundle('src-rpc/ssl/acme.ts', `${out}/lib/acme.js`);
// The body of user_import's hashing threads (src-rpc/sys/hash-threads.ts).
await bundle('src-rpc/sys/hash-worker.ts', `${out}/lib/hash-worker.js`);
// The same for the backup engine (age-encryption, modern-tar): lib/mesh.js, mesh methods only.
// age's ChaCha20-Poly1305 comes from OpenSSL (src-rpc/sys/chacha20poly1305.ts), same contract.
const nativeChacha = {
  name: 'native-chacha20poly1305',
  setup(b) {
    b.onResolve({ filter: /^@noble\/ciphers\/chacha(\.js)?$/ }, () => ({ path: `${root}src-rpc/sys/chacha20poly1305.ts` }));
  },
};
await bundle('src-rpc/mesh/engine.ts', `${out}/lib/mesh.js`, { plugins: [nativeChacha] });

// rpcd runs `list` synchronously at every start and reload: answer it from a file made here,
// in sh, without starting Node. The front (src-rpc/rpcd/front.sh) also hands calls to the warm
// worker. LIB is rewritten to the installed path by the package build.
// The bundle itself, not the executable: a code cache made by `list` would hold little of a call.
const plugin = `${out}/lib/${bundleOf('luci.mailserver.js')}`;
const signature = execFileSync(process.execPath, [plugin, 'list'], { encoding: 'utf8' });
put(`${out}/luci.mailserver.list.json`, `${signature}\n`);
put(`${out}/luci.mailserver`, readFileSync(`${root}src-rpc/rpcd/front.sh`), 0o755);

// The ACL follows from the table: read methods in read, the rest in write; the delegated
// accounts group gets the mailbox and alias methods only. UCI is granted for reading alone: a raw
// `uci set` on mailserver would bypass every method's checks and the write lock, so every change
// goes through a write method.
const table = JSON.parse(execFileSync(process.execPath, [plugin, 'describe'], { encoding: 'utf8' }));
const names = (pick) => table.filter(pick).map((m) => m.name);
const acl = {
  'luci-app-mailserver': {
    description: 'Grant access to the mail server',
    read: { ubus: { 'luci.mailserver': names((m) => m.access === 'read') }, uci: ['mailserver'] },
    write: { ubus: { 'luci.mailserver': names((m) => m.access === 'write') } },
  },
  'luci-app-mailserver-accounts': {
    description: 'Manage mailboxes and aliases of the mail server (nothing else)',
    read: { ubus: { 'luci.mailserver': names((m) => m.accounts && m.access === 'read') } },
    write: { ubus: { 'luci.mailserver': names((m) => m.accounts && m.access === 'write') } },
  },
};
put(`${root}acl.d/luci-app-mailserver.json`, `${JSON.stringify(acl, null, '\t')}\n`);
put(`${out}/methods.json`, `${JSON.stringify(table, null, 1)}\n`);

// The LuCI page follows the table too: its typed client is generated from methods.json.
const { buildUi } = await import('../src-ui/build.mjs');
await buildUi();
