// The two .ipk files as opkg meets them: unpacked with the system's tar (not our code), their
// control data, the installed paths, modes and owners, and the installed rpcd plugin answering
// `list` and `call`. Also the procd init script's shape (a real procd is not available here).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { writeConfig } from '../support/mailctl.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const version = `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}-1`;
const work = mkdtempSync(join(tmpdir(), 'package-test-'));
const out = join(work, 'dist');
const box = makeSandbox();
const EPOCH = 1_700_000_000;

interface Entry {
  mode: number;
  owner: string;
  type: string;
  mtime: string;
}
interface Unpacked {
  dir: string;
  outer: string[];
  control: Record<string, string>;
  controlDir: string;
  controlList: Map<string, Entry>;
  data: string;
  dataList: Map<string, Entry>;
}

const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

/** `-rwxr-xr-x` → 0o755 (plus the type letter). */
function parseMode(s: string): { type: string; mode: number } {
  let mode = 0;
  for (let i = 1; i < 10; i++) if (s[i] !== '-') mode |= 1 << (9 - i);
  return { type: s[0]!, mode };
}

/** `tar -tvz --numeric-owner` of an archive: name → mode, owner, type. */
function listing(archive: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const line of run('tar', ['--numeric-owner', '--full-time', '-tvzf', archive]).split('\n')) {
    if (!line) continue;
    const [perm, owner, , date, time, ...name] = line.split(/\s+/);
    const { type, mode } = parseMode(perm!);
    entries.set(name.join(' '), { type, mode, owner: owner!, mtime: `${date} ${time}` });
  }
  return entries;
}

function unpack(pkg: string): Unpacked {
  const ipk = join(out, `${pkg}_${version}_all.ipk`);
  assert.ok(existsSync(ipk), `${ipk} exists`);
  const dir = join(work, pkg);
  const controlDir = join(dir, 'control');
  const data = join(dir, 'data');
  for (const d of [dir, controlDir, data]) mkdirSync(d, { recursive: true });
  run('tar', ['-xzf', ipk, '-C', dir]);
  run('tar', ['-xzf', join(dir, 'control.tar.gz'), '-C', controlDir]);
  run('tar', ['-xzf', join(dir, 'data.tar.gz'), '-C', data]);
  const control: Record<string, string> = {};
  for (const line of readFileSync(join(controlDir, 'control'), 'utf8').split('\n')) {
    const m = /^([A-Za-z-]+): (.*)$/.exec(line);
    if (m) control[m[1]!] = m[2]!;
  }
  return {
    dir,
    outer: [...listing(ipk).keys()],
    control,
    controlDir,
    controlList: listing(join(dir, 'control.tar.gz')),
    data,
    dataList: listing(join(dir, 'data.tar.gz')),
  };
}

let app: Unpacked;
let luci: Unpacked;

test.before(() => {
  // `npm test` builds rpcd/ before any test runs; build here only when run alone, so this file
  // never rewrites the bundles under another test that is executing them.
  if (!existsSync(join(ROOT, 'rpcd', 'mailctl')) || !existsSync(join(ROOT, 'rpcd', 'luci.mailserver.list.json'))) {
    run(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT });
  }
  run(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), '--out', out], { cwd: ROOT, env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) } });
  app = unpack('secubox-app-mailserver');
  luci = unpack('luci-app-mailserver');
});
test.after(() => {
  rmSync(work, { recursive: true, force: true });
  box.cleanup();
});

test('the outer archive is what ipkg-build writes', () => {
  for (const p of [app, luci]) {
    assert.equal(p.outer, ['./debian-binary', './control.tar.gz', './data.tar.gz']);
    assert.is(readFileSync(join(p.dir, 'debian-binary'), 'utf8'), '2.0\n');
  }
});

test('control fields', () => {
  for (const [p, name] of [[app, 'secubox-app-mailserver'], [luci, 'luci-app-mailserver']] as const) {
    assert.is(p.control.Package, name);
    assert.is(p.control.Version, version);
    assert.is(p.control.Architecture, 'all');
    for (const field of ['Depends', 'Source', 'License', 'Section', 'Installed-Size', 'Maintainer', 'Description']) {
      assert.ok(p.control[field], `${name}: ${field} present`);
    }
    assert.match(p.control['Installed-Size']!, /^\d+$/);
  }
  const deps = (p: Unpacked) => p.control.Depends!.split(/,\s*/);
  for (const d of ['node', 'postfix', 'dovecot', 'openssl-util']) assert.ok(deps(app).includes(d), `app depends on ${d}`);
  // ClamAV is optional (features.virus_scan): never pulled in by the package.
  assert.equal(deps(app).filter((d) => /clam/.test(d)), []);
  for (const d of ['secubox-app-mailserver', 'luci-base']) assert.ok(deps(luci).includes(d), `luci depends on ${d}`);
});

test('conffiles and maintainer scripts', () => {
  assert.is(readFileSync(join(app.controlDir, 'conffiles'), 'utf8'), '/etc/config/mailserver\n');
  for (const p of [app, luci]) {
    const postinst = readFileSync(join(p.controlDir, 'postinst'), 'utf8');
    assert.is(p.controlList.get('./postinst')?.mode, 0o755);
    assert.is(statSync(join(p.controlDir, 'postinst')).mode & 0o777, 0o755);
    assert.ok(postinst.startsWith('#!/bin/sh\n'));
    assert.match(postinst, /\[ -n "\$IPKG_INSTROOT" \] \|\|/);
    assert.match(postinst, /\/etc\/init\.d\/rpcd reload/);
    run('sh', ['-n', join(p.controlDir, 'postinst')]);
    for (const [name, e] of p.controlList) assert.is(e.owner, '0/0', `control ${name} owner`);
  }
  const luciPostinst = readFileSync(join(luci.controlDir, 'postinst'), 'utf8');
  assert.match(luciPostinst, /rm -f \/tmp\/luci-indexcache\*/);
  assert.match(luciPostinst, /rm -rf \/tmp\/luci-modulecache\//);
});

test('installed files: paths, modes, owners, one fixed mtime', () => {
  const expected: Record<string, number> = {
    './usr/sbin/mailctl': 0o755,
    './usr/libexec/rpcd/luci.mailserver': 0o755,
    './usr/lib/mailserver/luci.mailserver.js': 0o755,
    './usr/lib/mailserver/luci.mailserver.list.json': 0o644,
    './usr/lib/mailserver/lib/acme.js': 0o644,
    './usr/lib/mailserver/lib/hash-worker.js': 0o644,
    './usr/lib/mailserver/lib/mailctl-main.js': 0o644,
    './usr/lib/mailserver/lib/luci.mailserver-main.js': 0o644,
    './etc/init.d/mailserver': 0o755,
    './etc/config/mailserver': 0o644,
    './etc/uci-defaults/90-mailserver': 0o755,
  };
  for (const [path, mode] of Object.entries(expected)) {
    const e = app.dataList.get(path);
    assert.ok(e, `${path} in secubox-app-mailserver`);
    assert.is(e!.type, '-', path);
    assert.is(e!.mode.toString(8), mode.toString(8), `${path} mode`);
  }
  const luciExpected: Record<string, number> = {
    './usr/share/luci/menu.d/luci-app-mailserver.json': 0o644,
    './usr/share/rpcd/acl.d/luci-app-mailserver.json': 0o644,
    './etc/uci-defaults/91-luci-mailserver': 0o755,
  };
  for (const [path, mode] of Object.entries(luciExpected)) {
    assert.is(luci.dataList.get(path)?.mode.toString(8), mode.toString(8), `${path} mode`);
  }
  const mtimes = new Set<string>();
  for (const p of [app, luci]) {
    for (const [name, e] of p.dataList) {
      assert.is(e.owner, '0/0', `${name} owner`);
      if (e.type === 'd') assert.is(e.mode, 0o755, `${name} directory mode`);
      else assert.ok(e.mode === 0o755 || e.mode === 0o644, `${name} mode ${e.mode.toString(8)}`);
      mtimes.add(e.mtime);
    }
  }
  assert.is(mtimes.size, 1, `one mtime for everything: ${[...mtimes].join(', ')}`);
  assert.is(statSync(join(app.data, 'usr/sbin/mailctl')).mtimeMs, EPOCH * 1000, 'mtime is SOURCE_DATE_EPOCH');
  assert.is(statSync(join(app.data, 'usr/sbin/mailctl')).mode & 0o777, 0o755);
});

test('installed executables and data', () => {
  const mailctl = readFileSync(join(app.data, 'usr/sbin/mailctl'), 'utf8');
  assert.ok(mailctl.startsWith('#!/usr/bin/node\n'), 'run by the node package\'s /usr/bin/node');
  const front = readFileSync(join(app.data, 'usr/libexec/rpcd/luci.mailserver'), 'utf8');
  assert.ok(front.startsWith('#!/bin/sh\n'));
  assert.ok(front.split('\n').includes('LIB=/usr/lib/mailserver'), front);
  assert.is(
    readFileSync(join(app.data, 'usr/lib/mailserver/luci.mailserver.list.json'), 'utf8'),
    readFileSync(join(ROOT, 'rpcd/luci.mailserver.list.json'), 'utf8'),
  );
  assert.is(readFileSync(join(app.data, 'etc/config/mailserver'), 'utf8'), readFileSync(join(ROOT, 'files/etc/config/mailserver'), 'utf8'));
});

test('ACL and menu entry are valid and agree', () => {
  const acl = JSON.parse(readFileSync(join(luci.data, 'usr/share/rpcd/acl.d/luci-app-mailserver.json'), 'utf8'));
  assert.equal(acl, JSON.parse(readFileSync(join(ROOT, 'acl.d/luci-app-mailserver.json'), 'utf8')));
  assert.ok(acl['luci-app-mailserver'].read.ubus['luci.mailserver'].includes('status'));
  const menu = JSON.parse(readFileSync(join(luci.data, 'usr/share/luci/menu.d/luci-app-mailserver.json'), 'utf8'));
  const entry = menu['admin/services/mailserver'];
  assert.ok(entry, 'admin/services/mailserver');
  assert.is(entry.title, 'Mail Server');
  assert.equal(entry.action, { type: 'view', path: 'mailserver/main' });
  assert.equal(entry.depends.acl, ['luci-app-mailserver']);
  assert.equal(entry.depends.uci, { mailserver: true });
  // The delegated helper's own entry: the same app, depending on the accounts group alone.
  const accounts = menu['admin/services/mailserver-accounts'];
  assert.ok(accounts, 'admin/services/mailserver-accounts');
  assert.equal(accounts.action, { type: 'view', path: 'mailserver/main' });
  assert.equal(accounts.depends.acl, ['luci-app-mailserver-accounts']);
  for (const [path, e] of Object.entries(menu) as [string, { depends: { acl: string[] } }][]) {
    for (const group of e.depends.acl) assert.ok(Object.keys(acl).includes(group), `${path} depends on ${group}, a group the ACL defines`);
  }
});

test('the LuCI package carries whatever the page build left under luci-app/htdocs', () => {
  const htdocs = join(ROOT, 'luci-app', 'htdocs');
  const walk = (dir: string, rel = ''): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? walk(join(dir, d.name), `${rel}/${d.name}`) : d.isFile() ? [`${rel}/${d.name}`] : [],
    );
  const files = existsSync(htdocs) ? walk(htdocs) : [];
  for (const f of files) {
    const e = luci.dataList.get(`./www${f}`);
    // The page is written while this runs: a file that appeared after packaging is not a failure.
    if (!e && statSync(join(htdocs, f)).mtimeMs > statSync(join(out, `luci-app-mailserver_${version}_all.ipk`)).mtimeMs) continue;
    assert.ok(e, `/www${f} packaged`);
    assert.is(e!.mode, 0o644, `/www${f} mode`);
  }
  const places = ['./www/', './usr/share/luci/menu.d/', './usr/share/rpcd/acl.d/', './etc/uci-defaults/'];
  for (const [name, e] of luci.dataList) {
    if (e.type !== 'd') assert.ok(places.some((p) => name.startsWith(p)), `${name} belongs in the LuCI package`);
  }
});

/**
 * The installed front points at LIB=/usr/lib/mailserver, which this machine does not have:
 * run a copy whose LIB is the unpacked library instead (only that line differs).
 */
function unpackedFront(): string {
  const front = readFileSync(join(app.data, 'usr/libexec/rpcd/luci.mailserver'), 'utf8');
  const path = join(work, 'luci.mailserver');
  writeFileSync(path, front.replace('LIB=/usr/lib/mailserver', `LIB='${join(app.data, 'usr/lib/mailserver')}'`), { mode: 0o755 });
  return path;
}

test('the installed rpcd plugin answers list from the packaged signature', () => {
  const r = spawnSync(unpackedFront(), ['list'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, readFileSync(join(ROOT, 'rpcd/luci.mailserver.list.json'), 'utf8'));
  const signature = JSON.parse(r.stdout);
  assert.ok(signature.status && typeof signature === 'object');
});

test('the installed rpcd plugin answers call status with one JSON object', () => {
  writeConfig(box.root);
  const r = spawnSync(unpackedFront(), ['call', 'status'], {
    input: '{}',
    encoding: 'utf8',
    env: { ...process.env, MAILSERVER_ROOT: box.root },
    timeout: 30_000,
  });
  assert.is(r.status, 0, r.stderr);
  const reply = JSON.parse(r.stdout);
  assert.ok(reply && typeof reply === 'object' && !Array.isArray(reply), r.stdout);
  assert.not.ok('error' in reply, r.stdout);
  assert.is(reply.runtime, 'host');
  assert.is(reply.running, false);
});

test('packages are reproducible', () => {
  const again = join(work, 'again');
  const bundle = () => statSync(join(ROOT, 'rpcd', 'mailctl')).mtimeMs;
  const before = bundle();
  run(process.execPath, [join(ROOT, 'scripts', 'package.mjs'), '--out', again], { cwd: ROOT, env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) } });
  // A concurrent `npm test` may rebuild rpcd/ meanwhile: then the bytes may rightly differ.
  if (bundle() !== before || bundle() > statSync(join(out, `secubox-app-mailserver_${version}_all.ipk`)).mtimeMs) return;
  for (const name of readdirSync(again)) {
    assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(again, name))), `${name} identical`);
  }
});

// --- the procd init script and uci-defaults --------------------------------------------

const INIT = join(ROOT, 'files/etc/init.d/mailserver');
const hasCommand = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

test('the init script parses as sh (and busybox ash when present)', () => {
  run('sh', ['-n', INIT]);
  if (hasCommand('busybox')) run('busybox', ['sh', '-n', INIT]);
  for (const f of ['90-mailserver', '91-luci-mailserver']) run('sh', ['-n', join(ROOT, 'files/etc/uci-defaults', f)]);
});

test('the init script is a procd service running the daemons (or the container) in the foreground', () => {
  const text = readFileSync(INIT, 'utf8');
  assert.ok(text.startsWith('#!/bin/sh /etc/rc.common\n'));
  for (const line of ['USE_PROCD=1', 'START=90', 'STOP=10']) assert.ok(text.split('\n').includes(line), line);
  assert.match(text, /procd_add_reload_trigger "mailserver"/);
  // The instances' command lines come from mailctl (the code `mailctl start` uses).
  assert.match(text, /"\$MAILCTL" procd-instances/);
  assert.match(text, /procd_set_param command "\$@"/);
  assert.match(text, /procd_set_param respawn/);
  assert.match(text, /config_get_bool ms_enabled main enabled 0/);
  assert.ok(statSync(INIT).mode & 0o111, 'executable in the tree');
});

test("mailctl run by the init script does not inherit procd.sh's lock descriptor 1000", () => {
  // procd.sh runs every init action holding `flock` on fd 1000; a daemon started from there
  // (mailctl apply may start a milter) that keeps it blocks every later action.
  const dir = mkdtempSync(join(tmpdir(), 'mailserver-fd1000-'));
  try {
    const stub = join(dir, 'mailctl');
    writeFileSync(stub, `#!/bin/sh\nif [ -e /proc/self/fd/1000 ]; then echo "$1 inherited" >> ${dir}/seen; else echo "$1 clean" >> ${dir}/seen; fi\n`, { mode: 0o755 });
    const script = `. ${INIT}
MAILCTL=${stub}
logger() { :; }
procd_open_instance() { :; }; procd_set_param() { :; }; procd_close_instance() { :; }
exec 1000>${dir}/lock
declare_instances
stop_service`;
    // OpenWrt's shell is busybox ash (dash cannot name descriptors above 9).
    run(hasCommand('busybox') ? 'busybox' : 'bash', [...(hasCommand('busybox') ? ['sh'] : []), '-c', script]);
    assert.equal(readFileSync(join(dir, 'seen'), 'utf8').trim().split('\n'), ['procd-instances clean', 'procd-stop clean']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shellcheck -s sh passes', () => {
  for (const f of [INIT, join(ROOT, 'files/etc/uci-defaults/90-mailserver'), join(ROOT, 'files/etc/uci-defaults/91-luci-mailserver')]) {
    const r = spawnSync('shellcheck', ['-s', 'sh', f], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stdout);
  }
});

test.run();
