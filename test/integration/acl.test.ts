// The ACL file follows from the method table, and rpcd logins get exactly what it grants:
// through the HTTP door (uhttpd-mod-ubus → rpcd session ACL → the plugin), as LuCI calls it.
// No daemons are started here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { writeConfig } from '../support/mailctl.ts';
import { ANONYMOUS_SID, startRpcd, UBUS, type ExecRecord, type Login, type Rpcd } from '../support/rpcd-emulator.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OBJECT = 'luci.mailserver';

interface MethodDescription {
  name: string;
  access: 'read' | 'write';
  accounts: boolean;
}
const METHODS = JSON.parse(readFileSync(join(REPO, 'rpcd', 'methods.json'), 'utf8')) as MethodDescription[];
const ACL = JSON.parse(readFileSync(join(REPO, 'acl.d', 'luci-app-mailserver.json'), 'utf8')) as Record<string, unknown>;

const box = makeSandbox('mailserver-acl-');
const root = box.root;
const aclDir = mkdtempSync('/tmp/mailserver-acl-d-');

const LOGINS: Record<string, Login> = {
  root: { username: 'root', password: 'root-secret', read: ['*'], write: ['*'] },
  helper: { username: 'helper', password: 'helper-secret', read: ['luci-app-mailserver-accounts'], write: ['luci-app-mailserver-accounts'] },
  viewer: { username: 'viewer', password: 'viewer-secret', read: ['luci-app-mailserver'], write: [] },
  writeonly: { username: 'writeonly', password: 'wo-secret', read: [], write: ['luci-app-mailserver-accounts'] },
  negated: { username: 'negated', password: 'neg-secret', read: ['luci-app-*', '!luci-app-mailserver'], write: [] },
  page: { username: 'page', password: 'page-secret', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver-accounts'], write: ['luci-app-mailserver-accounts'] },
  admin: { username: 'admin', password: 'admin-secret', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver'], write: ['luci-app-mailserver'] },
  wild: { username: 'wild', password: 'wild-secret', read: ['test-wildcard'], write: ['test-wildcard'] },
  nobase: { username: 'nobase', password: 'nobase-secret', read: ['luci-base', 'luci-app-mailserver'], write: [] },
};

const execs: ExecRecord[] = [];
let rpcd: Rpcd;
let url: string;
let closeHttp: () => Promise<void>;
const sids: Record<string, string> = {};

test.before(async () => {
  writeConfig(root);
  // The real ACL file, and one more group granting everything (to reach "not found" answers).
  copyFileSync(join(REPO, 'acl.d', 'luci-app-mailserver.json'), join(aclDir, 'luci-app-mailserver.json'));
  writeFileSync(join(aclDir, 'test-wildcard.json'), JSON.stringify({ 'test-wildcard': { description: 'test', read: { ubus: { '*': ['*'] } } } }));
  rpcd = await startRpcd({ logins: Object.values(LOGINS), aclDir, env: { MAILSERVER_ROOT: root }, onExec: (e) => execs.push(e) });
  ({ url, close: closeHttp } = await rpcd.listen());
  for (const [name, l] of Object.entries(LOGINS)) {
    const sid = await login(l.username, l.password);
    assert.type(sid, 'string', `login ${name}`);
    sids[name] = sid as string;
  }
});

test.after(async () => {
  await closeHttp();
  rpcd.close();
  box.cleanup();
  rmSync(aclDir, { recursive: true, force: true });
});

// --- HTTP as LuCI's rpc.js speaks it --------------------------------------------------------

let nextId = 1;

async function post(body: string): Promise<{ status: number; json: unknown }> {
  const r = await fetch(`${url}/ubus`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (e.g. 413)
  }
  return { status: r.status, json };
}

interface RpcReply {
  jsonrpc: string;
  id: unknown;
  result?: [number, Record<string, unknown>?];
  error?: { code: number; message: string };
}

async function rpc(sid: string, object: string, method: string, args: object = {}): Promise<RpcReply> {
  const id = nextId++;
  const r = await post(JSON.stringify({ jsonrpc: '2.0', id, method: 'call', params: [sid, object, method, args] }));
  assert.is(r.status, 200);
  const reply = r.json as RpcReply;
  assert.is(reply.jsonrpc, '2.0');
  assert.is(reply.id, id);
  return reply;
}

async function login(username: string, password: string): Promise<string | null> {
  const r = await rpc(ANONYMOUS_SID, 'session', 'login', { username, password });
  return r.result?.[0] === 0 ? String(r.result[1]!.ubus_rpc_session) : null;
}

/** The call reached the plugin and it answered without an error. */
async function allowed(who: string, method: string, args: object = {}): Promise<Record<string, unknown>> {
  const r = await rpc(sids[who]!, OBJECT, method, args);
  assert.is(r.error, undefined, `${who} ${method}: ${JSON.stringify(r.error)}`);
  assert.is(r.result?.[0], UBUS.OK, `${who} ${method}`);
  assert.is(r.result?.[1]?.error, undefined, `${who} ${method}: ${String(r.result?.[1]?.error)}`);
  return r.result![1]!;
}

/** -32002 "Access denied", and the plugin never ran. */
async function denied(who: string, method: string, args: object = {}): Promise<void> {
  const before = execs.length;
  const r = await rpc(sids[who]!, OBJECT, method, args);
  assert.equal(r.error, { code: -32002, message: 'Access denied' }, `${who} ${method}`);
  assert.is(r.result, undefined);
  assert.equal(execs.slice(before).filter((e) => e.method === method), [], `${who} ${method}: the plugin must not run`);
}

// --- the file ---------------------------------------------------------------------------------

test('acl.d/luci-app-mailserver.json is what follows from the method table', () => {
  const names = (pick: (m: MethodDescription) => boolean) => METHODS.filter(pick).map((m) => m.name);
  assert.equal(Object.keys(ACL).sort(), ['luci-app-mailserver', 'luci-app-mailserver-accounts']);
  const main = ACL['luci-app-mailserver'] as Record<string, unknown>;
  assert.type(main.description, 'string');
  assert.equal(main.read, { ubus: { [OBJECT]: names((m) => m.access === 'read') }, uci: ['mailserver'] });
  assert.equal(main.write, { ubus: { [OBJECT]: names((m) => m.access === 'write') } });
  const accounts = ACL['luci-app-mailserver-accounts'] as Record<string, unknown>;
  assert.type(accounts.description, 'string');
  assert.equal(accounts.read, { ubus: { [OBJECT]: names((m) => m.accounts && m.access === 'read') } });
  assert.equal(accounts.write, { ubus: { [OBJECT]: names((m) => m.accounts && m.access === 'write') } });
  // The delegated group is exactly the mailbox and alias methods.
  assert.equal(names((m) => m.accounts).sort(), names((m) => /^(user|alias)_/.test(m.name)).sort());
  assert.ok(names((m) => m.accounts).length >= 8, 'user_* and alias_* are all in the accounts group');
  // Every method is granted exactly once by the main group, under the access the table says.
  const granted = [...(main.read as { ubus: Record<string, string[]> }).ubus[OBJECT]!, ...(main.write as { ubus: Record<string, string[]> }).ubus[OBJECT]!];
  assert.equal(granted.sort(), METHODS.map((m) => m.name).sort());
  // And the rpcd signature names the same methods.
  assert.equal(Object.keys(rpcd.signature).sort(), METHODS.map((m) => m.name).sort());
});

// --- logins ------------------------------------------------------------------------------------

test('the accounts login manages mailboxes and aliases and nothing else', async () => {
  assert.equal(await allowed('helper', 'user_add', { email: 'bob@example.com', password: 'bob-pass-1234' }), { email: 'bob@example.com', quota: null });
  const list = await allowed('helper', 'user_list');
  assert.ok((list.items as { email: string }[]).some((u) => u.email === 'bob@example.com'));
  await allowed('helper', 'alias_add', { alias: 'team@example.com', target: 'bob@example.com' });
  const aliases = await allowed('helper', 'alias_list');
  assert.ok(JSON.stringify(aliases).includes('team@example.com'));
  await allowed('helper', 'alias_del', { alias: 'team@example.com' });
  await allowed('helper', 'user_passwd', { email: 'bob@example.com', password: 'bob-pass-5678' });
  await allowed('helper', 'user_quota', { email: 'bob@example.com', quota: '1G' });
  // The plugin got the caller's session, as uhttpd adds it.
  const last = execs.filter((e) => e.method === 'user_quota').pop()!;
  assert.is(JSON.parse(last.input).ubus_rpc_session, sids.helper);
  for (const m of ['start', 'stop', 'relay_set', 'domain_add', 'status', 'overview', 'install', 'apply', 'job_list']) {
    await denied('helper', m, m === 'relay_set' ? { host: '[relay.example.net]:587' } : m === 'domain_add' ? { domain: 'example.org' } : {});
  }
  // The programmatic door says the same in ubus terms.
  assert.equal(await rpcd.call(sids.helper!, OBJECT, 'start', {}), [UBUS.PERMISSION_DENIED]);
  await allowed('helper', 'user_del', { email: 'bob@example.com' });
});

test('a read-only login reads and is denied every write', async () => {
  const status = await allowed('viewer', 'status');
  assert.type(status.running, 'boolean');
  const overview = await allowed('viewer', 'overview');
  assert.ok('counts' in overview);
  await allowed('viewer', 'user_list');
  await denied('viewer', 'user_add', { email: 'eve@example.com', password: 'eve-pass-1234' });
  for (const m of METHODS.filter((x) => x.access === 'write')) await denied('viewer', m.name);
  const users = await allowed('root', 'user_list');
  assert.not.ok((users.items as { email: string }[]).some((u) => u.email === 'eve@example.com'));
});

test('rpcd login semantics: write implies read, "!" globs deny first', async () => {
  await allowed('writeonly', 'user_list');
  await allowed('writeonly', 'alias_list');
  await denied('writeonly', 'status');
  // luci-app-* without luci-app-mailserver: the accounts group's reads only.
  await allowed('negated', 'user_list');
  await denied('negated', 'status');
  await denied('negated', 'user_add', { email: 'x@example.com', password: 'x-pass-12345' });
});

test('the full group reads UCI but can change it only through our methods', async () => {
  const access = async (object: string, fn: string) =>
    (await rpc(sids.admin!, 'session', 'access', { scope: 'uci', object, function: fn })).result;
  assert.equal(await access('mailserver', 'read'), [0, { access: true }]);
  // A raw `uci set mailserver...` would skip every argument check and the write lock.
  assert.equal(await access('mailserver', 'write'), [0, { access: false }]);
  const ubus = async (fn: string) => (await rpc(sids.admin!, 'session', 'access', { scope: 'ubus', object: OBJECT, function: fn })).result;
  assert.equal(await ubus('domain_add'), [0, { access: true }]);
  assert.equal(await ubus('relay_set'), [0, { access: true }]);
});

test('sessions: anonymous, unknown, expired, session.access', async () => {
  // The anonymous session may log in (and ask session.access), nothing of ours.
  const anon = await rpc(ANONYMOUS_SID, OBJECT, 'status');
  assert.is(anon.error?.code, -32002);
  assert.is(await login('root', 'wrong password'), null);
  assert.is((await rpc(ANONYMOUS_SID, 'session', 'login', { username: 'root', password: 'nope' })).result?.[0], UBUS.PERMISSION_DENIED);
  // A session id nobody issued.
  assert.is((await rpc('0123456789abcdef0123456789abcdef', OBJECT, 'status')).error?.code, -32002);
  // A login without the `unauthenticated` group cannot ask session.access (LuCI then shows "Session expired").
  assert.is((await rpc(sids.helper!, 'session', 'access', { scope: 'ubus', object: OBJECT, function: 'user_add' })).error?.code, -32002);
  const access = async (fn: string) => (await rpc(sids.page!, 'session', 'access', { scope: 'ubus', object: OBJECT, function: fn })).result;
  assert.equal(await access('user_add'), [0, { access: true }]);
  assert.equal(await access('start'), [0, { access: false }]);
  const groups = (await rpc(sids.page!, 'session', 'access', {})).result?.[1] as Record<string, Record<string, string[]>>;
  assert.equal(groups['access-group']!['luci-app-mailserver-accounts'], ['read', 'write']);
  assert.equal(groups['access-group']!['luci-base'], ['read']);
  // As luci-base's and rpcd's ACL files: luci-base grants neither what every LuCI page calls.
  assert.is((await rpc(sids.nobase!, 'session', 'access', { scope: 'ubus', object: OBJECT, function: 'status' })).error?.code, -32002);
  assert.is((await rpc(sids.nobase!, 'luci', 'getFeatures', {})).error?.code, -32002);
  assert.is((await rpc(sids.page!, 'luci', 'getFeatures', {})).result?.[0], UBUS.OK);
  assert.is((await rpc(ANONYMOUS_SID, 'luci', 'getFeatures', {})).result?.[0], UBUS.OK);
  assert.is(groups['access-group']!['luci-app-mailserver'], undefined);
  // Idle sessions expire (rpcd: 300 s; here 1 s).
  const short = await startRpcd({ logins: [LOGINS.root!], aclDir, env: { MAILSERVER_ROOT: root }, sessionTimeoutS: 1 });
  try {
    const sid = (await short.login('root', 'root-secret'))!;
    assert.is((await short.call(sid, OBJECT, 'status', {}))[0], UBUS.OK);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(await short.call(sid, OBJECT, 'status', {}), [UBUS.PERMISSION_DENIED], 'expired');
  } finally {
    short.close();
  }
  // Logout.
  const sid = (await login('viewer', 'viewer-secret'))!;
  assert.equal((await rpc(sid, 'session', 'destroy', {})).error?.code, -32002, 'viewer has no session.destroy grant');
  assert.equal(await rpcd.call('', 'session', 'destroy', { ubus_rpc_session: sid }), [UBUS.OK]);
  assert.is((await rpc(sid, OBJECT, 'status')).error?.code, -32002);
});

test('uhttpd-mod-ubus: errors, list, batches, size limit', async () => {
  // An unknown method is denied by the ACL unless a group grants it; then ubus says 3.
  assert.is((await rpc(sids.viewer!, OBJECT, 'no_such_method')).error?.code, -32002);
  assert.equal((await rpc(sids.wild!, OBJECT, 'no_such_method')).result, [UBUS.METHOD_NOT_FOUND]);
  assert.equal((await rpc(sids.wild!, 'luci.nothing', 'status')).error, { code: -32000, message: 'Object not found' });
  // Malformed requests.
  const err = async (body: string) => ((await post(body)).json as RpcReply).error?.code;
  assert.is(await err('{not json'), -32700);
  assert.is(await err('42'), -32700);
  assert.is(await err(JSON.stringify({ id: 1, method: 'call', params: [] })), -32600);
  assert.is(await err(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'frobnicate', params: [] })), -32601);
  assert.is(await err(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'call', params: [sids.root, OBJECT, 'status'] })), -32602);
  assert.is(await err(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'call', params: [sids.root, OBJECT, 'status', [1]] })), -32602);
  // list: the signature with uhttpd's type names.
  const list = (await post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'list', params: [OBJECT] }))).json as { result: Record<string, Record<string, Record<string, string>>> };
  const sig = list.result[OBJECT]!;
  assert.equal(sig.user_add, { email: 'string', password: 'string', quota: 'string' });
  assert.equal(sig.user_del, { email: 'string', purge: 'boolean' });
  assert.is(sig.logs!.lines, 'number');
  assert.equal(sig.status, {});
  // A batch (LuCI's rpc.js sends one when calls are declared together): answers in order.
  const batch = await post(
    JSON.stringify([
      { jsonrpc: '2.0', id: 'a', method: 'call', params: [sids.viewer, OBJECT, 'status', {}] },
      { jsonrpc: '2.0', id: 'b', method: 'call', params: [sids.viewer, OBJECT, 'user_add', { email: 'z@example.com', password: 'zz-pass-1234' }] },
      { jsonrpc: '2.0', id: 'c', method: 'call', params: [sids.viewer, OBJECT, 'domain_list', {}] },
    ]),
  );
  const answers = batch.json as RpcReply[];
  assert.equal(answers.map((a) => a.id), ['a', 'b', 'c']);
  assert.is(answers[0]!.result?.[0], 0);
  assert.is(answers[1]!.error?.code, -32002);
  assert.is(answers[2]!.result?.[0], 0);
  assert.equal((await post('[]')).json, []);
  // Bodies over 64 KiB are refused before anything runs.
  const before = execs.length;
  const big = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'call', params: [sids.root, OBJECT, 'user_list', { search: 'x'.repeat(70 * 1024) }] }));
  assert.is(big.status, 413);
  assert.is(execs.length, before);
  // Only POST /ubus.
  assert.is((await fetch(`${url}/ubus`)).status, 404);
  assert.is((await fetch(`${url}/cgi-bin/luci`, { method: 'POST', body: '{}' })).status, 404);
  // LuCI posts to /ubus/?<object>.<method>... paths: the same door.
  const luci = await fetch(`${url}/ubus/?${OBJECT}.status`, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'call', params: [sids.viewer, OBJECT, 'status', {}] }) });
  assert.is(((await luci.json()) as RpcReply).result?.[0], 0);
});

test.run();
