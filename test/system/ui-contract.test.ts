// The page and the method table cannot drift apart: the UI's typed client is generated from the
// table, every method the UI calls is in it, and the LuCI view follows LuCI's loading rules.
// (A system test only by location: it needs no daemons.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TABLE_JSON } from '../../src-ui/build.mjs';
import { METHODS } from '../../src-ui/gen/methods.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const table = JSON.parse(readFileSync(TABLE_JSON, 'utf8')) as { name: string; access: string; args: Record<string, { required: boolean }> }[];
const byName = new Map(table.map((m) => [m.name, m]));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'gen' ? [] : sources(p);
    return /\.tsx?$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** call('name', { arg: ... }) sites in the UI sources: the only way the UI reaches the backend. */
function callSites(): { file: string; method: string; args: string[] }[] {
  const out: { file: string; method: string; args: string[] }[] = [];
  for (const file of sources(join(REPO, 'src-ui'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bcall\(\s*'([a-z0-9_]+)'\s*(?:,\s*\{([^}]*)\})?/g)) {
      const args = [...(m[2] ?? '').matchAll(/(?:^|,)\s*([a-z_]+)\s*(?::|,|$)/g)].map((a) => a[1]!);
      out.push({ file: file.slice(REPO.length + 1), method: m[1]!, args });
    }
  }
  return out;
}

test('src-ui/gen/methods.ts agrees with the method table (names, access, arguments in order)', () => {
  // Methods added to the table since the last `node src-ui/build.mjs` are fine (the page does
  // not use them yet); a method gone, renamed, or with other arguments or access is not.
  for (const [name, m] of Object.entries(METHODS) as [string, { access: string; args: readonly string[] }][]) {
    const t = byName.get(name);
    assert.ok(t, `gen/methods.ts has ${name}, the method table does not: run \`node src-ui/build.mjs\``);
    assert.is(m.access, t!.access, `${name}: access`);
    assert.equal([...m.args], Object.keys(t!.args), `${name}: arguments (run \`node src-ui/build.mjs\`)`);
  }
});

test('every method the UI calls is in the table, with arguments the table declares', () => {
  const sites = callSites();
  assert.ok(sites.length >= 30, `found only ${sites.length} call sites: has the client's call() changed name?`);
  for (const s of sites) {
    const m = byName.get(s.method);
    assert.ok(m, `${s.file} calls ${s.method}, which the method table does not have`);
    for (const a of s.args) assert.ok(a in m!.args, `${s.file}: ${s.method} has no argument ${a}`);
    for (const [a, spec] of Object.entries(m!.args)) if (spec.required) assert.ok(s.args.includes(a), `${s.file}: ${s.method} needs ${a}`);
  }
  // Read-only sessions load every screen: its first calls must be read methods.
  for (const name of ['overview', 'user_list', 'alias_list', 'domain_list', 'relay_show', 'dns_records', 'dns_check', 'dkim_show', 'mesh_peers', 'webmail_status', 'logs', 'job_status', 'job_list']) {
    assert.is(byName.get(name)?.access, 'read', name);
  }
});

test('the read ACL group grants every read method the page loads', () => {
  const acl = JSON.parse(readFileSync(join(REPO, 'acl.d', 'luci-app-mailserver.json'), 'utf8'));
  const read = new Set<string>(acl['luci-app-mailserver'].read.ubus['luci.mailserver']);
  const used = new Set(callSites().map((s) => s.method));
  for (const name of used) if (byName.get(name)?.access === 'read') assert.ok(read.has(name), `${name} missing from the read group`);
});

test('the LuCI view: directives first, no static import, dynamic import of the .js app, no footer handlers', () => {
  const src = readFileSync(join(REPO, 'luci-app/htdocs/luci-static/resources/view/mailserver/main.js'), 'utf8');
  assert.match(src, /^'use strict';\n'require view';\n'require rpc';\n/);
  assert.not.match(src, /^\s*import\s/m);
  assert.match(src, /import\(L\.resource\('mailserver\/app\.js'\) \+ '\?v=' \+ L\.env\.resource_version\)/);
  assert.match(src, /L\.resource\('mailserver\/app\.css'\)/);
  for (const h of ['handleSave', 'handleSaveApply', 'handleReset']) assert.match(src, new RegExp(`\\b${h}: null\\b`));
  // LuCI evaluates the file as the body of a function in strict mode: it must parse as one.
  assert.not.throws(() => new Function('window', 'document', 'L', 'view', 'rpc', src));
});

test.run();
