// The LuCI page in a real browser: Debian's Chromium (driven by playwright-core) opens the local
// LuCI shell, which loads our view the way LuCI does and sends every call through LuCI-style
// rpc to the rpcd emulator running the real luci.mailserver plugin against real Postfix and
// Dovecot in this test's network namespace. Real IMAP/SMTP clients check what the page did.
// Screenshots of every screen (light/dark × desktop/phone) go to test-artifacts/screenshots/.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type ElementHandle, type Page } from 'playwright-core';
import { insideTestNetns, makeSandbox, runMailClient, waitForPort, eventually, waitForSubject } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';
import { startRpcd, type Rpcd } from '../support/rpcd-emulator.ts';
import { startShell, type Shell } from '../support/luci-shell/server.ts';
import { buildUi } from '../../src-ui/build.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(REPO, 'test-artifacts', 'screenshots');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const H = '127.0.0.1';
// As the README tells: LuCI's mandatory `unauthenticated` and `luci-base`, then our group.
const LOGINS = {
  admin: { username: 'admin', password: 'admin-pass-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver'], write: ['luci-app-mailserver'] },
  viewer: { username: 'viewer', password: 'viewer-pass-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver'], write: [] },
  helper: { username: 'helper', password: 'helper-pass-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver-accounts'], write: ['luci-app-mailserver-accounts'] },
  /** Everything of ours but not LuCI's `unauthenticated`: LuCI says "Session expired". */
  noprobe: { username: 'noprobe', password: 'noprobe-pass-1', read: ['luci-base', 'luci-app-mailserver'], write: ['luci-base', 'luci-app-mailserver'] },
  /** Both of our groups: the only one here that may open a page depending on both. */
  both: { username: 'both', password: 'both-pass-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver', 'luci-app-mailserver-accounts'], write: [] },
};
const TABS = ['overview', 'mailboxes', 'aliases', 'domains', 'dns', 'tls', 'mesh', 'webmail', 'logs'] as const;
/** The only buttons a read-only session may see: they read, copy, page or dismiss. */
const READ_LABELS = /^(Refresh|Search|Check DNS|Check again|Copy|Copied|Copy all as zone lines|‹ Previous|Next ›|Dismiss|Apple profile)$/;
const TABLE = JSON.parse(readFileSync(join(REPO, 'rpcd', 'methods.json'), 'utf8')) as { name: string; access: string }[];
const ACL = JSON.parse(readFileSync(join(REPO, 'acl.d', 'luci-app-mailserver.json'), 'utf8')) as Record<string, Record<'read' | 'write', { ubus: Record<string, string[]> }>>;
/** What the accounts group grants, read and write. */
const ACCOUNT_METHODS = new Set(['read', 'write'].flatMap((p) => ACL['luci-app-mailserver-accounts']![p as 'read']!.ubus['luci.mailserver']!));
const MAIL_SERVER_URL = 'cgi-bin/luci/admin/services/mailserver';
const STOCK_FIREWALL = readFileSync(join(REPO, 'test/fixtures/firewall/firewall'));
const MAIL_ACCOUNTS_URL = 'cgi-bin/luci/admin/services/mailserver-accounts';

// Under /run: OpenDKIM (on for the screenshots) refuses keys below a world-writable /tmp.
const box = makeSandbox('mailserver-ui-', '/run');
const root = box.root;
const FIREWALL_RELOADS = join(root, 'firewall-reloads.log');
let rpcd: Rpcd;
let shell: Shell;
let browser: Browser;
const contexts: BrowserContext[] = [];
const sleepers: ChildProcess[] = [];

interface Call {
  object: string;
  method: string;
  args: Record<string, unknown>;
  sid: string;
}
/** Every JSON-RPC call any page made, in order. */
const calls: Call[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const imapLogin = (user: string, password: string) => runMailClient({ action: 'imap_login', host: H, port: 143, tls: 'starttls', user, password });

interface Opened {
  page: Page;
  /** Calls to luci.mailserver this page made since the last reset. */
  ours(): Call[];
  reset(): void;
  /** Wait until no /ubus request of this page is in flight and nothing in the app spins. */
  settle(): Promise<void>;
}

async function open(who: keyof typeof LOGINS, opts: { width?: number; dark?: boolean; hash?: string } = {}): Promise<Opened> {
  const width = opts.width ?? 1280;
  const context = await browser.newContext({ viewport: { width, height: width < 600 ? 740 : 900 }, colorScheme: opts.dark ? 'dark' : 'light', deviceScaleFactor: 1 });
  contexts.push(context);
  const page = await context.newPage();
  const mine: Call[] = [];
  let inflight = 0;
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  page.on('request', (r) => {
    if (r.method() !== 'POST' || !new URL(r.url()).pathname.startsWith('/ubus')) return;
    inflight++;
    const body = JSON.parse(r.postData() ?? 'null') as unknown;
    for (const b of (Array.isArray(body) ? body : [body]) as { method: string; params: unknown[] }[]) {
      if (b?.method !== 'call') continue;
      const [sid, object, method, args] = b.params as [string, string, string, Record<string, unknown>];
      const c = { sid, object, method, args };
      calls.push(c);
      mine.push(c);
    }
  });
  const done = (r: { url(): string; method(): string }) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/ubus')) inflight--;
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  await logIn(page, who, `${shell.url}${opts.hash ? `#${opts.hash}` : ''}`);
  await page.waitForSelector('.ms-app[data-write]');
  const o: Opened = {
    page,
    ours: () => mine.filter((c) => c.object === 'luci.mailserver'),
    reset: () => void (mine.length = 0),
    settle: async () => {
      const idle = () => !document.querySelector('.ms-app .ms-loading, .ms-app button.spinning, #view > .spinning');
      await page.waitForFunction(idle, undefined, { timeout: 30_000 }).catch((e) => explain(page, e));
      assert.ok(await eventually(async () => inflight === 0, 20_000, 50), 'requests still in flight');
      await page.waitForFunction(idle, undefined, { timeout: 30_000 }).catch((e) => explain(page, e));
    },
  };
  await o.settle();
  return o;
}

/** LuCI's login form (a 403 page), then the page the dispatcher resolves for the login. */
async function logIn(page: Page, who: keyof typeof LOGINS, url: string): Promise<void> {
  const first = await page.goto(url);
  assert.is(first?.status(), 403, 'LuCI asks for a login');
  await page.fill('#luci_username', LOGINS[who].username);
  await page.fill('#luci_password', LOGINS[who].password);
  await Promise.all([page.waitForNavigation(), page.click('#login-submit')]);
}

/** The top menu's entries under Services, as the dispatcher lets this session see them. */
const menuEntries = (p: Page) => p.$$eval('#topmenu a[data-menu]', (as) => as.map((a) => a.getAttribute('data-menu')));

/** A wait that failed: say what the page shows (errors in words) instead of only "timeout". */
async function explain(p: Page, e: unknown): Promise<never> {
  const shown = await p
    .$$eval('.ms-error, .ms-field-error, .ms-notimpl, .alert-message, .ms-loading, button.spinning', (els) => els.map((el) => `${el.className}: ${el.textContent?.trim()}`))
    .catch(() => []);
  throw new Error(`${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n  the page shows:\n    ${shown.join('\n    ') || '(nothing)'}`);
}

async function waitFor(p: Page, selector: string, opts: { state?: 'attached' | 'detached' | 'visible'; timeout?: number } = {}): Promise<ElementHandle> {
  // (null only for state 'detached', whose callers ignore it)
  return (await p.waitForSelector(selector, { timeout: 20_000, ...opts }).catch((e) => explain(p, e))) as ElementHandle;
}

/** Send over SMTP; Postfix may say 4xx right after a reload: a client retries those. */
async function sendMail(to: string, subject: string) {
  let last: unknown;
  for (let i = 0; i < 20; i++) {
    const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'someone@example.net', to: [to], subject, body: 'hello' });
    if (r.ok) return r;
    last = r;
    if (typeof r.code !== 'number' || r.code >= 500) break;
    await sleep(500);
  }
  throw new Error(`SMTP send failed: ${JSON.stringify(last)}`);
}

async function openTab(o: Opened, tab: (typeof TABS)[number]): Promise<void> {
  await o.page.click(`a[data-tab="${tab}"]`);
  await o.page.waitForSelector(`.ms-screen[data-screen="${tab}"]`);
  await o.settle();
}

const form = (name: string) => `[data-form="${name}"]`;

async function fillMailboxForm(p: Page, email: string, password: string, confirm = password): Promise<void> {
  await p.fill(`${form('user_add')} input[name="email"]`, email);
  await p.fill(`${form('user_add')} input[name="password"]`, password);
  await p.fill(`${form('user_add')} input[name="confirm"]`, confirm);
}

function mailboxTotal(): number {
  return JSON.parse(ok(root, ['user', 'list', '--json', '--limit', '1']).stdout).total as number;
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, {});
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
  ok(root, ['user', 'add', 'postmaster@example.com', '--password-stdin'], 'postmaster-pass-1\n');
  // A little more to look at in the screenshots.
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin', '--quota', '2G'], 'alice-pass-12\n');
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin', '--quota', '0'], 'bob-pass-123\n');
  ok(root, ['alias', 'add', 'info@example.com', 'alice@example.com,bob@example.com']);
  // A stock OpenWrt firewall config, and fw4's init script as the test double (it logs reloads).
  mkdirSync(join(root, 'etc/init.d'), { recursive: true });
  writeFileSync(join(root, 'etc/config/firewall'), STOCK_FIREWALL);
  copyFileSync(join(REPO, 'test/support/fake-firewall-init'), join(root, 'etc/init.d/firewall'));
  await buildUi();
  rpcd = await startRpcd({ env: { MAILSERVER_ROOT: root, PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', FAKE_FIREWALL_LOG: FIREWALL_RELOADS }, logins: Object.values(LOGINS) });
  shell = await startShell({ rpcd });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(SHOTS, { recursive: true });
});

test.after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  for (const s of sleepers) s.kill('SIGKILL');
  await shell?.close();
  rpcd?.close();
  mailctl(root, ['stop']);
  box.cleanup();
});

test('LuCI loads the view from its file; the Overview shows the running server from one call', async () => {
  const o = await open('admin');
  const p = o.page;
  assert.is(await p.getAttribute('.ms-app', 'data-write'), 'yes');
  assert.equal(await p.$$eval('.ms-app a[data-tab]', (as) => as.map((a) => a.getAttribute('data-tab'))), [...TABS]);
  assert.is(await p.textContent('[data-state="running"]'), 'running');
  const ports = await p.$$eval('.ms-ports tr[data-port]', (rows) => rows.map((r) => `${r.getAttribute('data-port')} ${r.querySelector('.label')?.textContent}`));
  assert.is(ports.length, 8, ports.join(', '));
  assert.ok(ports.every((x) => x.endsWith(' open')), ports.join(', '));
  await sleep(500);
  assert.equal(o.ours().map((c) => c.method), ['overview'], 'the Overview is one call');
  // DNS health comes with it: nothing has checked the DNS yet.
  assert.match((await p.textContent('.ms-screen')) ?? '', /DNS health\s*Not checked yet\./);
  // No Save/Apply/Reset footer: the view sets the handlers to null.
  assert.is(await p.$('.cbi-page-actions'), null);
  // The stylesheet is linked once, however often the view renders.
  assert.is(await p.$$eval('link[data-mailserver-css]', (l) => l.length), 1);
});

test('a mailbox added through the form logs in over IMAP and reads mail sent over SMTP', async () => {
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  assert.match((await p.textContent(`${form('user_add')} [data-field="quota"] .cbi-value-description`)) ?? '', /empty = server default \(unlimited\)$/);
  // Stored mail against the quota: alice has 2G and no mail yet.
  assert.is(await p.textContent('tr[data-email="alice@example.com"] [data-usage]'), '0 B of 2 GiB');
  assert.ok(await p.$('tr[data-email="alice@example.com"] .ms-usage[role="meter"]'), 'a bar where there is a limit');
  await fillMailboxForm(p, 'Carol@Example.com', 'carol-secret-pass-1');
  assert.match(await p.textContent(`${form('user_add')} .ms-strength`) ?? '', /Strength: (good|strong|fair)/);
  o.reset();
  await p.click(`${form('user_add')} button[type="submit"]`);
  await waitFor(p, 'tr[data-email="carol@example.com"]');
  assert.match((await p.textContent(`${form('user_add')} .ms-done`)) ?? '', /Created carol@example\.com/);
  const add = o.ours().find((c) => c.method === 'user_add');
  assert.equal(add?.args, { email: 'Carol@Example.com', password: 'carol-secret-pass-1' });
  await sendMail('carol@example.com', 'made in the page');
  assert.ok(await waitForSubject('carol@example.com', 'carol-secret-pass-1', 'made in the page'), 'IMAP reads the message');
  // The delivered message counts in the list (quota: the server default, unlimited here).
  await p.reload();
  const usage = await waitFor(p, 'tr[data-email="carol@example.com"] [data-usage]');
  await o.settle();
  assert.ok(Number(await usage.getAttribute('data-usage')) > 0, `data-usage ${await usage.getAttribute('data-usage')}`);
  assert.match((await usage.textContent()) ?? '', /^[1-9][\d.]* (B|KiB) \(unlimited\)$/);
});

test("the add form says what the server's default quota is, and has no quota field when quotas are off", async () => {
  setUci(root, 'features', 'quota_default', '1G');
  try {
    const o = await open('admin', { hash: 'mailboxes' });
    const p = o.page;
    assert.match((await p.textContent(`${form('user_add')} [data-field="quota"] .cbi-value-description`)) ?? '', /empty = server default \(1 GiB\)$/);
    assert.match((await p.textContent('tr[data-email="postmaster@example.com"] [data-usage]')) ?? '', /^[\d.]+ (B|KiB) of 1 GiB$/);
    setUci(root, 'features', 'quota', '0');
    await p.reload();
    await waitFor(p, 'tr[data-email="postmaster@example.com"]');
    await o.settle();
    assert.is(await p.$(`${form('user_add')} input[name="quota"]`), null, 'no quota field');
    assert.is(await p.$('tr[data-email="postmaster@example.com"] button:has-text("Quota")'), null, 'no Quota button');
    assert.match((await p.textContent('tr[data-email="alice@example.com"] [data-usage]')) ?? '', /^[\d.]+ (B|KiB) \(quotas off\)$/);
  } finally {
    setUci(root, 'features', 'quota', '1');
    setUci(root, 'features', 'quota_default', '0');
  }
});

test('a bad address gets a field error by the email input and creates nothing', async () => {
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  const before = mailboxTotal();
  await fillMailboxForm(p, 'not an address', 'some-good-password-1');
  await p.click(`${form('user_add')} button[type="submit"]`);
  const err = await waitFor(p, `${form('user_add')} [data-field="email"] .ms-field-error`);
  assert.match((await err.textContent()) ?? '', /^Address: .*not an email address/);
  assert.is(await p.getAttribute(`${form('user_add')} input[name="email"]`, 'aria-invalid'), 'true');
  assert.is(await p.$(`${form('user_add')} [data-field="password"] .ms-field-error`), null, 'only the email field is marked');
  assert.is(mailboxTotal(), before);
  await p.screenshot({ path: join(SHOTS, 'mailboxes-field-error-light-desktop.png'), fullPage: true });
  // A confirmation that differs never reaches the router.
  o.reset();
  await fillMailboxForm(p, 'dave@example.com', 'dave-password-1', 'dave-password-2');
  await p.click(`${form('user_add')} button[type="submit"]`);
  assert.match((await (await waitFor(p, `${form('user_add')} [data-field="confirm"] .ms-field-error`)).textContent()) ?? '', /^Confirm password: does not match/);
  assert.equal(o.ours().filter((c) => c.method === 'user_add'), []);
  assert.is(mailboxTotal(), before);
});

test('changing the password in the page: only the new one logs in', async () => {
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  const row = 'tr[data-email="carol@example.com"]';
  await p.click(`${row} button:has-text("Password")`);
  const f = '[data-email-form="carol@example.com"]';
  await p.fill(`${f} input[name="password"]`, 'carol-new-pass-22');
  await p.fill(`${f} input[name="confirm"]`, 'carol-new-pass-22');
  await p.click(`${f} button[type="submit"]`);
  await waitFor(p, `${row} .ms-done`);
  assert.ok(await eventually(async () => (await imapLogin('carol@example.com', 'carol-new-pass-22')).ok === true), 'new password works');
  assert.is((await imapLogin('carol@example.com', 'carol-secret-pass-1')).ok, false);
});

test('deleting in the page asks by name, then the IMAP login fails', async () => {
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  const row = 'tr[data-email="carol@example.com"]';
  await p.click(`${row} button:has-text("Delete")`);
  const dialog = await waitFor(p, '[data-email-form="carol@example.com"] [role="alertdialog"]');
  assert.match((await dialog.textContent()) ?? '', /Delete the mailbox carol@example\.com\?/);
  await p.click('button:has-text("Delete carol@example.com")');
  await waitFor(p, row, { state: 'detached' });
  assert.ok(await eventually(async () => (await imapLogin('carol@example.com', 'carol-new-pass-22')).ok === false, 3000), 'login refused within 3 s');
});

test('a denied call (-32002) says "Permission denied" next to the control, and no session-expired dialog', async () => {
  const viewerSid = await rpcd.login(LOGINS.viewer.username, LOGINS.viewer.password);
  assert.ok(viewerSid);
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  // This page's user_add goes out under a read-only session: the emulator (uhttpd) refuses it.
  await p.route('**/ubus/**', async (route) => {
    const body = JSON.parse(route.request().postData() ?? '{}');
    if (body?.params?.[2] === 'user_add') body.params[0] = viewerSid;
    await route.continue({ postData: JSON.stringify(body) });
  });
  await fillMailboxForm(p, 'erin@example.com', 'erin-password-11');
  await p.click(`${form('user_add')} button[type="submit"]`);
  const err = await waitFor(p, `${form('user_add')} .ms-actions .ms-error`);
  assert.is(await err.textContent(), 'Permission denied');
  assert.is(await p.$eval('body', (b) => b.classList.contains('modal-overlay-active')), false);
  await p.unroute('**/ubus/**');
  assert.is(mailctl(root, ['user', 'list', '--search', 'erin']).stdout.trim(), '');
});

test('a read-only login sees every screen without write controls; a crafted write is denied', async () => {
  const o = await open('viewer');
  const p = o.page;
  assert.is(await p.getAttribute('.ms-app', 'data-write'), 'no');
  assert.ok(await p.$('.ms-app [role="note"]'), 'read-only note shown');
  for (const tab of TABS) {
    await openTab(o, tab);
    const labels = await p.$$eval('.ms-app button', (bs) => bs.map((b) => b.textContent?.trim() ?? ''));
    const write = labels.filter((l) => !READ_LABELS.test(l));
    assert.equal(write, [], `write controls on ${tab}: ${write.join(', ')}`);
    assert.is(await p.$$eval('.ms-screen input:not([type="search"])', (i) => i.length), 0, `inputs on ${tab}`);
    assert.is(await p.$('.ms-screen form[data-form]'), null, `a write form on ${tab}`);
  }
  // Reading is enough to hand a mailbox's Apple profile to its owner: the browser saves it.
  await openTab(o, 'mailboxes');
  const row = (await p.getAttribute('tr[data-email]', 'data-email'))!;
  const [download] = await Promise.all([p.waitForEvent('download'), p.click(`tr[data-email="${row}"] button:has-text("Apple profile")`)]);
  assert.is(download.suggestedFilename(), `${row}.mobileconfig`);
  const profile = readFileSync((await download.path())!, 'utf8');
  assert.match(profile, /<string>com\.apple\.mail\.managed<\/string>/);
  assert.ok(profile.includes(`<string>${row}</string>`));
  const before = mailboxTotal();
  const reply = await p.evaluate(async () => {
    const L = (window as unknown as { L: { env: { sessionid: string } } }).L;
    const r = await fetch('/ubus/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'call', params: [L.env.sessionid, 'luci.mailserver', 'user_add', { email: 'mallory@example.com', password: 'mallory-pass-1' }] }),
    });
    return r.json();
  });
  assert.is(reply.error?.code, -32002, JSON.stringify(reply));
  assert.is(mailboxTotal(), before);
  await openTab(o, 'overview');
  await p.screenshot({ path: join(SHOTS, 'overview-readonly-light-desktop.png'), fullPage: true });
});

test('the accounts-only helper lands on Mailboxes; a mailbox it adds receives mail and logs in; nothing else is shown', async () => {
  const o = await open('helper');
  const p = o.page;
  // LuCI's dispatcher: only the entry that depends on the accounts group alone.
  assert.is(new URL(p.url()).pathname, '/cgi-bin/luci/');
  assert.equal(await menuEntries(p), ['admin/services/mailserver-accounts']);
  assert.is(await p.textContent('.ms-app h2'), 'Mail accounts');
  assert.is(await p.getAttribute('.ms-app', 'data-write'), 'yes');
  assert.is(await p.getAttribute('.ms-screen', 'data-screen'), 'mailboxes');
  assert.equal(await p.$$eval('.ms-app a[data-tab]', (as) => as.map((a) => a.getAttribute('data-tab'))), ['mailboxes', 'aliases']);
  assert.is(await p.$('.ms-app [role="note"]'), null, 'not called read-only');
  await p.screenshot({ path: join(SHOTS, 'mailboxes-helper-light-desktop.png'), fullPage: true });
  // An old link to a screen the helper may not use opens Mailboxes instead.
  await p.goto(`${shell.url}${MAIL_ACCOUNTS_URL}#dns`);
  await waitFor(p, '.ms-screen[data-screen="mailboxes"] .ms-list');
  await o.settle();
  assert.is(await p.$('a[data-tab="dns"], a[data-tab="overview"], a[data-tab="tls"]'), null);
  // Add a mailbox through the page: it receives mail by SMTP and logs in by IMAP.
  await fillMailboxForm(p, 'dora@example.com', 'dora-secret-pass-1');
  await p.click(`${form('user_add')} button[type="submit"]`);
  await waitFor(p, 'tr[data-email="dora@example.com"]');
  assert.match((await p.textContent(`${form('user_add')} .ms-done`)) ?? '', /Created dora@example\.com/);
  await sendMail('dora@example.com', 'added by the helper');
  assert.ok(await waitForSubject('dora@example.com', 'dora-secret-pass-1', 'added by the helper'), 'IMAP reads the message');
  // Aliases with their write controls.
  await openTab(o, 'aliases');
  await p.fill(`${form('alias_add')} input[name="alias"]`, 'desk@example.com');
  await p.fill(`${form('alias_add')} input[name="target"]`, 'dora@example.com');
  await p.click(`${form('alias_add')} button[type="submit"]`);
  await waitFor(p, 'tr[data-alias="desk@example.com"]');
  assert.match(mailctl(root, ['alias', 'list', '--search', 'desk']).stdout, /dora@example\.com/);
  // Every call the page made is one rpcd grants this login: nothing refused, no dialog.
  const refused = o.ours().filter((c) => !ACCOUNT_METHODS.has(c.method));
  assert.equal(refused, [], refused.map((c) => c.method).join(', '));
  assert.is(await p.$eval('body', (b) => b.classList.contains('modal-overlay-active')), false);
  // The full page is not the helper's: LuCI's dispatcher answers 403.
  const full = await p.goto(`${shell.url}${MAIL_SERVER_URL}`);
  assert.is(full?.status(), 403);
  assert.is(await p.$('.ms-app'), null);
});

test("a menu entry needs every group it lists: 403 and hidden otherwise, as LuCI's dispatcher", async () => {
  // The full admin has luci-app-mailserver, not the accounts group.
  const o = await open('admin');
  const p = o.page;
  assert.equal(await menuEntries(p), ['admin/services/mailserver']);
  assert.is((await p.goto(`${shell.url}${MAIL_ACCOUNTS_URL}`))?.status(), 403);
  assert.is((await p.goto(`${shell.url}${MAIL_SERVER_URL}`))?.status(), 200);
  // An entry depending on both of our groups, on a shell serving that menu.
  const menuFile = join(root, 'menu-both.json');
  writeFileSync(menuFile, JSON.stringify({ 'admin/services/mail-both': { title: 'Mail (both)', order: 59, action: { type: 'view', path: 'mailserver/main' }, depends: { acl: ['luci-app-mailserver', 'luci-app-mailserver-accounts'] } } }));
  const strict = await startShell({ rpcd, menuFile });
  try {
    const url = `${strict.url}cgi-bin/luci/admin/services/mail-both`;
    for (const [who, status] of [['admin', 403], ['helper', 403], ['both', 200]] as const) {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await logIn(page, who, url);
      assert.is((await page.goto(url))?.status(), status, who);
      if (status === 200) {
        assert.equal(await menuEntries(page), ['admin/services/mail-both']);
        await waitFor(page, '.ms-app[data-write="no"]');
      } else {
        assert.is(await page.$('.ms-app'), null, `${who} sees no page`);
        await page.goto(strict.url);
        assert.not.ok((await menuEntries(page)).includes('admin/services/mail-both'), `${who}: hidden from the menu`);
      }
      await context.close();
    }
  } finally {
    await strict.close();
  }
});

test('a login without LuCI\'s "unauthenticated" group gets "Session expired", as in LuCI', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  await logIn(page, 'noprobe', shell.url);
  // luci.getFeatures is refused; LuCI's interceptor then cannot even ask session.access.
  await waitFor(page, 'body.modal-overlay-active .modal:has-text("Session expired")');
  await waitFor(page, '.ms-app[data-write="no"]');
  assert.is(await page.$('.ms-app a[data-tab]'), null, 'no screen: every call would be refused');
  await page.screenshot({ path: join(SHOTS, 'no-unauthenticated-light-desktop.png') });
  await context.close();
});

test("the page's rights come from session.access per method, not from L.hasViewPermission()", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  // A LuCI whose hasViewPermission() says "writable" whatever the menu entry's groups are.
  await context.route('**/luci-static/shell/luci.js', async (route) => {
    const r = await route.fetch();
    await route.fulfill({ response: r, body: (await r.text()).replace('return !ns.readonly;', 'return true;') });
  });
  const page = await context.newPage();
  const asked: string[] = [];
  page.on('request', (r) => {
    if (!new URL(r.url()).pathname.startsWith('/ubus')) return;
    const b = JSON.parse(r.postData() ?? 'null') as { params?: [string, string, string, { scope?: string; object?: string; function?: string }] } | null;
    const q = b?.params?.[3];
    if (b?.params?.[1] === 'session' && b.params[2] === 'access' && q?.scope === 'ubus' && q.object === 'luci.mailserver') asked.push(q.function ?? '');
  });
  await logIn(page, 'viewer', shell.url);
  await waitFor(page, '.ms-app[data-write="no"] .ms-screen[data-screen="overview"] [data-state]', { timeout: 60_000 });
  assert.is(await page.evaluate(() => (window as unknown as { L: { hasViewPermission(): boolean } }).L.hasViewPermission()), true);
  assert.equal([...new Set(asked)].sort(), TABLE.map((m) => m.name).sort(), 'asked for every method of the table');
  assert.is(await page.$('button:has-text("Restart")'), null, 'no write control for a read-only login');
  await context.close();
});

test('long work: the job bar follows job_status and comes back after a reload', async () => {
  // A job record as the detached runner writes it, "running" in a live process.
  const sleeper = spawn('sleep', ['900'], { stdio: 'ignore' });
  sleepers.push(sleeper);
  const id = '20250101T000000-0a1b2c3d';
  const dir = join(root, 'var/run/mailserver/jobs', id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state = (over: object) =>
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ id, kind: 'install', state: 'running', progress: 40, phase: 'certificate', pid: sleeper.pid, started: new Date().toISOString(), finished: null, result: null, error: null, ...over }));
  state({});
  writeFileSync(join(dir, 'args.json'), '{}');
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  const bar = `[data-job="${id}"][data-state="running"] .cbi-progressbar`;
  assert.match((await (await waitFor(p, bar)).getAttribute('title')) ?? '', /^Install: 40% — certificate$/);
  assert.ok(o.ours().some((c) => c.method === 'overview'), 'found through overview.jobs on the Mailboxes tab (it reads the quota settings)');
  assert.not.ok(o.ours().some((c) => c.method === 'job_list'), 'no job_list besides');
  const first = o.ours().filter((c) => c.method !== 'job_status');
  assert.ok(first.length <= 2, `first Mailboxes page: ${first.map((c) => c.method).join(', ')}`);
  await p.reload();
  await waitFor(p, bar);
  await openTab(o, 'overview');
  state({ progress: 70, phase: 'configuration' });
  await waitFor(p, `[data-job="${id}"] .cbi-progressbar[title="Install: 70% — configuration"]`);
  state({ state: 'done', progress: 100, phase: 'done', finished: new Date().toISOString(), result: {} });
  assert.match((await (await waitFor(p, `[data-job="${id}"][data-state="done"]`)).textContent()) ?? '', /Install finished/);
  await p.click(`[data-job="${id}"] button:has-text("Dismiss")`);
  await waitFor(p, `[data-job="${id}"]`, { state: 'detached' });
  // The container install names its phase (rootfs, packages, configure, start): the steps show it.
  const phased = '20250101T000001-0a1b2c3d';
  const pdir = join(root, 'var/run/mailserver/jobs', phased);
  mkdirSync(pdir, { recursive: true, mode: 0o700 });
  writeFileSync(join(pdir, 'args.json'), '{}');
  const record = (over: object) =>
    writeFileSync(join(pdir, 'state.json'), JSON.stringify({ id: phased, kind: 'install', state: 'running', progress: 35, phase: 'packages: installing postfix dovecot-imapd', pid: sleeper.pid, started: new Date().toISOString(), finished: null, result: null, error: null, ...over }));
  record({});
  writeFileSync(join(pdir, 'log'), 'rootfs: unpacked debian bookworm\npackages: apt-get install postfix dovecot-imapd\n');
  await p.reload();
  const steps = (state: string) => p.$$eval(`[data-job="${phased}"][data-state="${state}"] .ms-phases li`, (li) => li.map((e) => `${e.getAttribute('data-phase')}:${e.className || 'todo'}`));
  await waitFor(p, `[data-job="${phased}"][data-state="running"] .ms-phases`);
  assert.equal(await steps('running'), ['rootfs:done', 'packages:current', 'configure:todo', 'start:todo']);
  // It fails: the error names the phase, the log lines of that phase come with it.
  const lines = ['E: Unable to locate package dovecot-lmtpd', 'E: apt-get exited 100'];
  record({ state: 'failed', finished: new Date().toISOString(), error: { error: 'packages: apt-get install failed (exit 100)', code: 'daemon_error', log: lines } });
  await waitFor(p, `[data-job="${phased}"][data-state="failed"]`);
  assert.equal(await steps('failed'), ['rootfs:done', 'packages:failed', 'configure:todo', 'start:todo']);
  assert.match((await p.textContent(`[data-job="${phased}"] > span`)) ?? '', /^Install failed in phase packages: apt-get install failed \(exit 100\)$/);
  assert.is(await p.textContent(`[data-job="${phased}"] .ms-log`), lines.join('\n'));
  await p.screenshot({ path: join(SHOTS, 'install-failed-light-desktop.png') });
  await p.click(`[data-job="${phased}"] button:has-text("Dismiss")`);
  // A real job from the page: Install / repair.
  o.reset();
  await p.click('button:has-text("Install / repair")');
  await waitFor(p, '.ms-job[data-state="done"], .ms-job[data-state="failed"]', { timeout: 60_000 });
  const ended = await p.$eval('.ms-job[data-state]:not([data-job="' + id + '"])', (e) => `${e.getAttribute('data-state')}: ${e.textContent}`);
  assert.match(ended, /^done: Install finished/);
  assert.ok(o.ours().some((c) => c.method === 'job_status'), 'polled job_status');
});

/** What the plugin answers this method right now (a local root call, no ACL). */
async function backend(method: string, args: object = {}): Promise<Record<string, unknown>> {
  const [status, data] = await rpcd.call('', 'luci.mailserver', method, args);
  assert.is(status, 0, `${method}: ubus status ${status}`);
  return data as Record<string, unknown>;
}

/** After an action: a job bar, words of success, or the error in words, next to the control. */
async function outcome(p: Page, scope: string, jobs = false): Promise<string> {
  const el = await waitFor(p, `${scope} .ms-done, ${scope} .ms-error, ${scope} .ms-notimpl${jobs ? ', .ms-job' : ''}`, { timeout: 30_000 });
  return el.evaluate((n) => {
    const e = n as Element;
    return e.classList.contains('ms-job') ? `job ${e.getAttribute('data-state')}: ${e.querySelector('[title]')?.getAttribute('title') ?? e.textContent}` : e.textContent?.trim() ?? '';
  });
}

test('each screen shows what the backend answers, data or "not implemented" in its words; no made-up data', async () => {
  const o = await open('admin', { hash: 'dns' });
  const p = o.page;
  // DNS: the records table is dns_records, row for row; "published" is dns_check's verdict.
  const records = await backend('dns_records', { format: 'json' });
  if (records.code === 'not_implemented') {
    assert.match((await p.textContent('.ms-screen .ms-notimpl')) ?? '', String(records.error));
    assert.is(await p.$('.ms-dns'), null, 'no records table without records');
  } else {
    const want = (records.records as { type: string; name: string }[]).map((r) => `${r.type} ${r.name}`);
    assert.equal(await p.$$eval('.ms-dns tr[data-record]', (rows) => rows.map((r) => r.getAttribute('data-record'))), want);
    const check = await backend('dns_check');
    if (check.records) {
      for (const row of check.records as { type: string; name: string; status: string }[]) {
        assert.is(await p.getAttribute(`.ms-dns tr[data-record="${row.type} ${row.name}"] [data-status]`, 'data-status'), row.status, `${row.type} ${row.name}`);
      }
    }
  }
  await p.click('button:has-text("Publish records")');
  assert.ok(await outcome(p, '.ms-screen', true));
  // TLS: the certificate of overview.certificate.
  await openTab(o, 'tls');
  const cert = (await backend('overview')).certificate as { names: string[] } | null;
  if (cert) assert.match((await p.textContent('.ms-kv')) ?? '', cert.names[0]!);
  const ssl = await backend('ssl_status');
  if (ssl.code === 'not_implemented') assert.match((await p.textContent('.ms-screen .ms-notimpl')) ?? '', String(ssl.error));
  else assert.is(await p.$$eval('.ms-listeners tr[data-listener]', (r) => r.length), (ssl.listeners as unknown[]).length);
  // Webmail: the backend's verdict, in its words.
  await openTab(o, 'webmail');
  const webmail = await backend('webmail_status');
  assert.is(await p.getAttribute('.ms-webmail-state', 'data-state'), String(webmail.state));
  assert.ok(((await p.textContent('.ms-webmail-state')) ?? '').includes(String(webmail.summary)));
  await openTab(o, 'mesh');
  await p.click('button:has-text("Back up now")');
  assert.match(await outcome(p, '.ms-screen'), /Started/);
  // The job's file shows in the list; Restore asks first and names what it replaces.
  let made = '';
  await eventually(async () => {
    await p.click('button:has-text("Refresh list")');
    await o.settle();
    made = (await p.getAttribute('tr[data-backup]', 'data-backup').catch(() => null)) ?? '';
    return made !== '';
  }, 60_000, 1000);
  assert.equal(((await backend('mesh_backups')).backups as { name: string }[]).map((b) => b.name), [made]);
  await p.click(`tr[data-backup="${made}"] button:has-text("Restore…")`);
  assert.match((await p.textContent('[data-replaces]')) ?? '', new RegExp(`${root}/srv/mailserver/mail`));
  await p.click('button:has-text("Cancel")');
  // The key: its fingerprint, and the secret only when asked.
  await p.click('button:has-text("Show key for export")');
  const keyShown = (await (await waitFor(p, '[data-backup-key]')).textContent()) ?? '';
  assert.is(keyShown, readFileSync(join(root, 'srv/mailserver/secrets/mesh-backup.key'), 'utf8').trim());
  // Overview: tick's stored summary (none here); "Check DNS" runs a check and shows its summary.
  await openTab(o, 'overview');
  const stored = (await backend('overview')).dns as { checkedAt: string } | null;
  await p.click('button:has-text("Check DNS")');
  await o.settle();
  const dns = (await backend('dns_check')).health as { ok: boolean; checkedAt: string; problems: { type: string; name: string }[] };
  const shown = await p.getAttribute('[data-dns]', 'data-checked');
  assert.ok(shown && shown !== stored?.checkedAt && Date.parse(shown) <= Date.parse(dns.checkedAt), `a new check shown: ${shown}`);
  assert.is(await p.getAttribute('[data-dns]', 'data-dns'), dns.ok ? 'ok' : 'bad');
  assert.equal(await p.$$eval('[data-problem]', (li) => li.map((e) => e.getAttribute('data-problem'))), dns.problems.map((x) => `${x.type} ${x.name}`));
  if (!dns.ok) assert.ok(await p.$('.ms-screen a[href="#dns"]'), 'a link to the DNS tab');
  assert.equal((await backend('overview')).dns, stored, 'the read stored nothing');
});

test('aliases, domains, mesh peers and logs work from the page', async () => {
  const o = await open('admin', { hash: 'aliases' });
  const p = o.page;
  await p.fill(`${form('alias_add')} input[name="alias"]`, '@example.com');
  await p.fill(`${form('alias_add')} input[name="target"]`, 'postmaster@example.com');
  await p.click(`${form('alias_add')} button[type="submit"]`);
  await waitFor(p, 'tr[data-alias="@example.com"] .label:has-text("catch-all")');
  await openTab(o, 'domains');
  await p.fill(`${form('domain_add')} input[name="domain"]`, 'example.org');
  await p.click(`${form('domain_add')} button[type="submit"]`);
  await waitFor(p, 'tr[data-domain="example.org"]');
  await p.fill(`${form('domain_add')} input[name="domain"]`, 'bad domain!');
  await p.click(`${form('domain_add')} button[type="submit"]`);
  await waitFor(p, `${form('domain_add')} [data-field="domain"] .ms-field-error`);
  await openTab(o, 'mesh');
  await p.fill(`${form('mesh_add_peer')} input[name="peer"]`, 'router-2.mesh');
  await p.click(`${form('mesh_add_peer')} button[type="submit"]`);
  await waitFor(p, 'tr[data-peer="router-2.mesh"]');
  await openTab(o, 'logs');
  assert.ok(await p.$('.ms-log'), 'log lines shown');
  const logs = o.ours().filter((c) => c.method === 'logs');
  assert.equal(logs.at(-1)?.args, { lines: 50 });
  await Promise.all([p.waitForRequest((r) => (r.postData() ?? '').includes('"logs"')), p.selectOption('.ms-logbar select >> nth=1', 'postfix')]);
  await o.settle();
  assert.equal(o.ours().filter((c) => c.method === 'logs').at(-1)?.args, { lines: 50, service: 'postfix' });
});

test('an expired session gets LuCI\'s "Session expired" dialog, not a silent failure', async () => {
  const o = await open('admin');
  const p = o.page;
  const sid = await p.evaluate(() => (window as unknown as { L: { env: { sessionid: string } } }).L.env.sessionid);
  // As if it timed out: gone from rpcd (a local root call, like `ubus call session destroy`).
  assert.equal(await rpcd.call('', 'session', 'destroy', { ubus_rpc_session: sid }), [0]);
  await p.click('button:has-text("Refresh")');
  await waitFor(p, 'body.modal-overlay-active .modal:has-text("Session expired")');
  assert.match((await p.textContent('.ms-screen .ms-error')) ?? '', /Session expired/);
  await p.screenshot({ path: join(SHOTS, 'session-expired-light-desktop.png') });
});

test('stop (after a confirmation) and start from the Overview drive the real daemons', async () => {
  const o = await open('admin');
  const p = o.page;
  await p.click('button:has-text("Stop")');
  await waitFor(p, '[role="alertdialog"]:has-text("Stop Postfix and Dovecot?")');
  await p.click('button:has-text("Stop the mail server")');
  await waitFor(p, '[data-state="stopped"]', { timeout: 30_000 });
  assert.is(JSON.parse(ok(root, ['status', '--json']).stdout).running, false);
  await p.click('button:has-text("Start")');
  await waitFor(p, '[data-state="running"]', { timeout: 60_000 });
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
  assert.is(await p.$$eval('.ms-ports tr[data-port]', (r) => r.length), 8);
});

test('a ban shows on the Overview; Unban lifts it in the kernel', async () => {
  ok(root, ['ban', 'add', '198.51.100.7']);
  const o = await open('admin');
  const p = o.page;
  await waitFor(p, '[data-ban="198.51.100.7"]');
  await p.click('[data-ban="198.51.100.7"] button:has-text("Unban")');
  await waitFor(p, '[data-bans="0"]', { timeout: 30_000 });
  assert.equal(JSON.parse(ok(root, ['ban', 'list', '--json']).stdout).items, []);
});
test('the Firewall card opens the enabled mail ports in fw4 and closes them: the stock file again', async () => {
  const o = await open('admin');
  const p = o.page;
  assert.is(await p.getAttribute('[data-firewall]', 'data-firewall'), '0');
  await p.click('button:has-text("Open mail ports")');
  await waitFor(p, '[data-firewall="8"][data-uptodate="true"]');
  const written = readFileSync(join(root, 'etc/config/firewall'));
  assert.ok(written.subarray(0, STOCK_FIREWALL.length).equals(STOCK_FIREWALL), 'the owner part kept byte for byte');
  const opened = (JSON.parse(ok(root, ['firewall', 'status', '--json']).stdout).open as { name: string; port: number }[]).map((x) => `${x.name.replace('mailserver-', '')} ${x.port}`);
  assert.is(await p.textContent('[data-firewall]'), opened.join(', '));
  assert.ok(existsSync(FIREWALL_RELOADS), 'the firewall was reloaded');
  // A read-only login sees what is open, and no button to change it.
  const viewer = await open('viewer');
  assert.is(await viewer.page.getAttribute('[data-firewall]', 'data-firewall'), '8');
  assert.is(await viewer.page.$('button:has-text("Open mail ports"), button:has-text("Close mail ports")'), null);
  await p.click('button:has-text("Close mail ports")');
  await waitFor(p, '[data-firewall="0"]');
  assert.ok(readFileSync(join(root, 'etc/config/firewall')).equals(STOCK_FIREWALL));
});

/** DNS names in the DNS screen's tables whose label (a text node between <wbr>s) spans two lines. */
const labelsSplit = (p: Page) =>
  p.$$eval('.ms-dns .ms-name, .ms-dkim .ms-name', (cells) =>
    cells.flatMap((cell) =>
      [...cell.childNodes]
        .filter((n) => n.nodeType === Node.TEXT_NODE)
        .filter((n) => {
          const r = document.createRange();
          r.selectNodeContents(n);
          return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1;
        })
        .map((n) => `${cell.textContent} (${n.textContent})`),
    ),
  );

test('every screen, light and dark, desktop and phone: screenshots, nothing wider than the phone', async () => {
  // DKIM on: the DNS table then carries the long DKIM TXT record beside the names.
  setUci(root, 'features', 'dkim', '1');
  ok(root, ['apply']);
  for (const dark of [false, true]) {
    for (const width of [1280, 360]) {
      const o = await open('admin', { width, dark });
      const p = o.page;
      assert.is(await p.getAttribute('html', 'data-darkmode'), dark ? 'true' : 'false');
      for (const tab of TABS) {
        await openTab(o, tab);
        const name = `${tab}-${dark ? 'dark' : 'light'}-${width < 600 ? 'phone' : 'desktop'}.png`;
        await p.screenshot({ path: join(SHOTS, name), fullPage: true });
        if (tab === 'dns') {
          assert.ok(await p.$('.ms-dns tr[data-record*="._domainkey."]'), 'the DKIM record is in the table');
          assert.equal(await labelsSplit(p), [], `names broken inside a label at ${width} px`);
          const [table, app] = await p.$$eval('.ms-dns, .ms-app', (els) => els.map((e) => e.getBoundingClientRect().width));
          assert.ok(table! <= app!, `the DNS table (${table} px) is wider than the page (${app} px)`);
        }
        if (width < 600) {
          const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `${tab} is ${overflow}px wider than the phone`);
        }
      }
      await o.page.context().close();
    }
  }
  // The README's picture changes with every run (pids, disk use): refresh it only when asked.
  if (process.env.UPDATE_DOCS === '1') {
    mkdirSync(join(REPO, 'docs'), { recursive: true });
    copyFileSync(join(SHOTS, 'overview-light-desktop.png'), join(REPO, 'docs', 'overview.png'));
  }
});

test('mail held: the Overview says why while the milter is down, and nothing once it runs again', async () => {
  // DKIM is on since the screenshots: OpenDKIM is Postfix's milter, and without it every
  // message is refused with 4xx (milter_default_action = tempfail).
  const opendkim = () => (JSON.parse(ok(root, ['status', '--json']).stdout).services as { name: string; pid: number | null }[]).find((x) => x.name === 'opendkim');
  process.kill(opendkim()!.pid!, 'SIGTERM');
  assert.ok(await eventually(async () => opendkim()?.pid === null, 15_000), 'OpenDKIM stopped');
  const o = await open('admin');
  const p = o.page;
  const banner = await waitFor(p, '[data-held]');
  assert.match((await banner.textContent()) ?? '', /^Mail is held \(refused for now; senders retry\): OpenDKIM is not running/);
  const refused = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'someone@example.net', to: ['bob@example.com'], subject: 'while held', body: 'hello' });
  assert.ok(!refused.ok && typeof refused.code === 'number' && Math.floor(refused.code / 100) === 4, `4xx while held: ${JSON.stringify(refused)}`);
  await p.screenshot({ path: join(SHOTS, 'overview-held-light-desktop.png'), fullPage: true });
  ok(root, ['start']);
  await p.click('button:has-text("Refresh")');
  await waitFor(p, '[data-held]', { state: 'detached' });
  await o.settle();
  await sendMail('bob@example.com', 'after the milter came back');
  assert.ok(await waitForSubject('bob@example.com', 'bob-pass-123', 'after the milter came back'), 'delivered');
});

test('many mailboxes: the first Mailboxes page is one page of user_list, not the whole list', async () => {
  const users = join(root, 'srv/mailserver/config/users');
  const text = readFileSync(users, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('postmaster@example.com:'))!;
  const extra = Array.from({ length: 600 }, (_, i) => line.replace('postmaster@', `bulk${String(i).padStart(4, '0')}@`)).join('\n');
  writeFileSync(users, `${text.trimEnd()}\n${extra}\n`);
  ok(root, ['apply']);
  const o = await open('admin', { hash: 'mailboxes' });
  const p = o.page;
  const ours = o.ours();
  assert.ok(ours.length <= 2, ours.map((c) => c.method).join(', '));
  const list = ours.find((c) => c.method === 'user_list');
  assert.equal(list?.args, { offset: 0, limit: 25 });
  assert.is(await p.$$eval('.ms-list tr[data-email]', (r) => r.length), 25);
  assert.is(await p.getAttribute('.ms-list', 'data-total'), String(mailboxTotal()));
  o.reset();
  await p.fill('.ms-search input', 'bulk0599');
  await p.click('.ms-search button');
  await waitFor(p, 'tr[data-email="bulk0599@example.com"]');
  assert.equal(o.ours().map((c) => [c.method, c.args]), [['user_list', { offset: 0, limit: 25, search: 'bulk0599' }]]);
});

test('every method the page called is in the method table', () => {
  const names = new Set(TABLE.map((m) => m.name));
  const used = [...new Set(calls.filter((c) => c.object === 'luci.mailserver').map((c) => c.method))].sort();
  assert.ok(used.length > 15, used.join(' '));
  assert.equal(used.filter((m) => !names.has(m)), []);
  const others = [...new Set(calls.filter((c) => c.object !== 'luci.mailserver').map((c) => `${c.object}.${c.method}`))].sort();
  assert.equal(others, ['luci.getFeatures', 'session.access'], "LuCI's feature probe and the page's rights");
});

test.run();
