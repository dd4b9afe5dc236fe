// Builds the two OpenWrt packages into dist/ without the OpenWrt SDK, laid out the way
// OpenWrt's ipkg-build lays them out: a gzip'd GNU tar holding ./debian-binary,
// ./control.tar.gz and ./data.tar.gz. Run after scripts/build.mjs (`npm run package` does both).
//
// Reproducible: names sorted, owners 0:0, modes 0755 (directories, executables) or 0644,
// every mtime SOURCE_DATE_EPOCH or else the last commit's time; gzip writes no time stamp.
// The system's GNU tar does the archiving, always spawned with an argument array.
//
//   node scripts/package.mjs [--out DIR]     DIR defaults to dist/
import { execFileSync } from 'node:child_process';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outArg = process.argv.indexOf('--out');
if (outArg !== -1 && !process.argv[outArg + 1]) fail('usage: node scripts/package.mjs [--out DIR]');
const dist = outArg === -1 ? join(root, 'dist') : resolve(process.argv[outArg + 1]);
const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = `${pkgJson.version}-1`;
const maintainer = 'SecuBox <dev@secubox.invalid>';
const license = pkgJson.license ?? 'GPL-2.0-only';
const LIB = '/usr/lib/mailserver';
const HTDOCS = join(root, 'luci-app', 'htdocs');

function fail(message) {
  process.stderr.write(`package: ${message}\n`);
  process.exit(1);
}

function sourceDateEpoch() {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && env !== '') {
    if (!/^\d+$/.test(env)) fail(`SOURCE_DATE_EPOCH must be seconds since 1970, got ${JSON.stringify(env)}`);
    return Number(env);
  }
  try {
    const out = execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (/^\d+$/.test(out)) return Number(out);
  } catch {
    // not a git checkout: fall through
  }
  return Math.floor(statSync(join(root, 'package.json')).mtimeMs / 1000);
}

// --- what goes where ----------------------------------------------------------------

/** The rpcd front as built finds its library next to itself; installed it lives in LIB. */
function rpcdFront() {
  const text = readFileSync(join(root, 'rpcd', 'luci.mailserver'), 'utf8');
  const line = 'LIB="${0%/*}"';
  if (!text.split('\n').includes(line)) fail(`rpcd/luci.mailserver has no line ${line} to point at ${LIB}`);
  return text.replace(line, `LIB=${LIB}`);
}

/** An executable of rpcd/ as installed: run by OpenWrt's Node (package node: /usr/bin/node), not the one that built it. */
function installedExecutable(p) {
  const text = readFileSync(join(root, p), 'utf8');
  if (!text.startsWith('#!')) fail(`${p} has no #! line`);
  return { text: `#!/usr/bin/node${text.slice(text.indexOf('\n'))}` };
}

/** Every regular file under dir, as [path relative to dir, absolute path], sorted. */
function walk(dir, prefix = '') {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = statSync(abs);
    if (st.isDirectory()) out.push(...walk(abs, rel));
    else if (st.isFile()) out.push([rel, abs]);
  }
  return out;
}

const src = (p) => ({ from: join(root, p) });

const packages = [
  {
    name: 'secubox-app-mailserver',
    section: 'mail',
    // Not ClamAV: `clamav` and `freshclam` (~1 GiB of memory with the official signatures) are
    // needed only with features.virus_scan=1, and mailctl names them when they are missing.
    depends: ['node', 'postfix', 'dovecot', 'openssl-util'],
    description: 'Mail server manager for SecuBox/OpenWrt: mailctl and the luci.mailserver rpcd plugin (Postfix + Dovecot)',
    conffiles: ['/etc/config/mailserver'],
    postinst: ['[ -n "$IPKG_INSTROOT" ] || /etc/init.d/rpcd reload'],
    prerm: true,
    files: () => [
      { path: '/usr/sbin/mailctl', ...installedExecutable('rpcd/mailctl'), exec: true },
      { path: '/usr/libexec/rpcd/luci.mailserver', text: rpcdFront(), exec: true },
      { path: `${LIB}/luci.mailserver.js`, ...installedExecutable('rpcd/luci.mailserver.js'), exec: true },
      { path: `${LIB}/luci.mailserver.list.json`, ...src('rpcd/luci.mailserver.list.json') },
      // What the two executables above run (src-rpc/rpcd/boot.ts); each keeps its V8 code cache
      // beside it once it has run (lib/*.v8cache, one per Node version, written by the router's Node, not shipped).
      { path: `${LIB}/lib/mailctl-main.js`, ...src('rpcd/lib/mailctl-main.js') },
      { path: `${LIB}/lib/luci.mailserver-main.js`, ...src('rpcd/lib/luci.mailserver-main.js') },
      // The ACME client, required only by ssl-setup/ssl-renew (src-rpc/ssl/load-acme.ts).
      { path: `${LIB}/lib/acme.js`, ...src('rpcd/lib/acme.js') },
      // The backup engine (age, tar), required only by the mesh methods (src-rpc/mesh/load-engine.ts).
      { path: `${LIB}/lib/mesh.js`, ...src('rpcd/lib/mesh.js') },
      // user_import's hashing threads (src-rpc/sys/hash-threads.ts).
      { path: `${LIB}/lib/hash-worker.js`, ...src('rpcd/lib/hash-worker.js') },
      { path: '/etc/init.d/mailserver', ...src('files/etc/init.d/mailserver'), exec: true },
      { path: '/etc/config/mailserver', ...src('files/etc/config/mailserver') },
      { path: '/etc/uci-defaults/90-mailserver', ...src('files/etc/uci-defaults/90-mailserver'), exec: true },
    ],
  },
  {
    name: 'luci-app-mailserver',
    section: 'luci',
    depends: ['secubox-app-mailserver', 'luci-base'],
    description: 'LuCI page for the SecuBox mail server (Services > Mail Server)',
    conffiles: [],
    postinst: [
      '[ -n "$IPKG_INSTROOT" ] || {',
      '\trm -f /tmp/luci-indexcache*',
      '\trm -rf /tmp/luci-modulecache/',
      '\t/etc/init.d/rpcd reload',
      '}',
    ],
    prerm: false,
    files: () => {
      // The page is built by another step and may not exist yet: ship whatever is there.
      const web = existsSync(HTDOCS) ? walk(HTDOCS).map(([rel, from]) => ({ path: `/www/${rel}`, from })) : [];
      if (!web.some((f) => f.path === '/www/luci-static/resources/view/mailserver/main.js')) {
        process.stderr.write('package: warning: luci-app/htdocs/luci-static/resources/view/mailserver/main.js is missing; luci-app-mailserver is built without its view\n');
      }
      return [
        ...web,
        { path: '/usr/share/luci/menu.d/luci-app-mailserver.json', ...src('menu.d/luci-app-mailserver.json') },
        { path: '/usr/share/rpcd/acl.d/luci-app-mailserver.json', ...src('acl.d/luci-app-mailserver.json') },
        { path: '/etc/uci-defaults/91-luci-mailserver', ...src('files/etc/uci-defaults/91-luci-mailserver'), exec: true },
      ];
    },
  },
];

// --- building ----------------------------------------------------------------------

/** Create every directory on the way to file inside stage with mode 0755. */
function makeParents(stage, file) {
  const parts = dirname(file).split('/').filter(Boolean);
  let dir = stage;
  for (const part of parts) {
    dir = join(dir, part);
    if (!existsSync(dir)) mkdirSync(dir);
    chmodSync(dir, 0o755);
  }
}

function stageFile(stage, f) {
  const dest = join(stage, f.path);
  makeParents(stage, f.path);
  if (f.text !== undefined) writeFileSync(dest, f.text);
  else {
    if (!existsSync(f.from)) fail(`${f.from.slice(root.length)} is missing (run \`node scripts/build.mjs\` first)`);
    copyFileSync(f.from, dest);
  }
  chmodSync(dest, f.exec ? 0o755 : 0o644);
  return statSync(dest).size;
}

function tarGz(dir, members, output, epoch) {
  execFileSync('tar', [
    '--format=gnu', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`,
    '-C', dir, '-czf', output, ...members,
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
}

function maintainerScript(lines, defaultCall) {
  // OpenWrt's own wrapper (what the SDK puts first): default_postinst runs the package's
  // uci-defaults on a live system and enables and starts its init scripts; default_prerm
  // stops and disables them.
  return [
    '#!/bin/sh',
    '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0',
    'if [ -s "${IPKG_INSTROOT}/lib/functions.sh" ]; then',
    '\t. "${IPKG_INSTROOT}/lib/functions.sh"',
    `\t${defaultCall} "$0" "$@"`,
    'fi',
    ...lines,
    'exit 0',
    '',
  ].join('\n');
}

function buildPackage(p, epoch) {
  const work = mkdtempSync(join(tmpdir(), `ipk-${p.name}-`));
  try {
    const data = join(work, 'data');
    const control = join(work, 'control');
    const outer = join(work, 'outer');
    for (const d of [data, control, outer]) {
      mkdirSync(d);
      chmodSync(d, 0o755);
    }

    let installedSize = 0;
    for (const f of p.files()) installedSize += stageFile(data, f);

    const fields = [
      ['Package', p.name],
      ['Version', version],
      ['Depends', p.depends.join(', ')],
      ['Source', 'secubox-mailserver'],
      ['SourceName', p.name],
      ['License', license],
      ['Section', p.section],
      ['SourceDateEpoch', String(epoch)],
      ['Maintainer', maintainer],
      ['Architecture', 'all'],
      ['Installed-Size', String(installedSize)],
      ['Description', p.description],
    ];
    const controlFiles = ['./control', './postinst'];
    writeFileSync(join(control, 'control'), fields.map(([k, v]) => `${k}: ${v}\n`).join(''));
    chmodSync(join(control, 'control'), 0o644);
    if (p.conffiles.length) {
      writeFileSync(join(control, 'conffiles'), p.conffiles.map((c) => `${c}\n`).join(''));
      chmodSync(join(control, 'conffiles'), 0o644);
      controlFiles.push('./conffiles');
    }
    writeFileSync(join(control, 'postinst'), maintainerScript(p.postinst, 'default_postinst'));
    chmodSync(join(control, 'postinst'), 0o755);
    if (p.prerm) {
      writeFileSync(join(control, 'prerm'), maintainerScript([], 'default_prerm'));
      chmodSync(join(control, 'prerm'), 0o755);
      controlFiles.push('./prerm');
    }

    tarGz(data, ['.'], join(outer, 'data.tar.gz'), epoch);
    tarGz(control, controlFiles.sort(), join(outer, 'control.tar.gz'), epoch);
    writeFileSync(join(outer, 'debian-binary'), '2.0\n');
    for (const f of ['data.tar.gz', 'control.tar.gz', 'debian-binary']) chmodSync(join(outer, f), 0o644);

    const file = join(dist, `${p.name}_${version}_all.ipk`);
    rmSync(file, { force: true });
    // The order ipkg-build writes; --sort=name must not reorder the members named here.
    execFileSync('tar', [
      '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`,
      '-C', outer, '-czf', file, './debian-binary', './control.tar.gz', './data.tar.gz',
    ], { stdio: ['ignore', 'inherit', 'inherit'] });
    return { file, size: statSync(file).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const epoch = sourceDateEpoch();
mkdirSync(dist, { recursive: true });
for (const p of packages) {
  const { file, size } = buildPackage(p, epoch);
  process.stdout.write(`${relative(process.cwd(), file)} (${size} bytes)\n`);
}
