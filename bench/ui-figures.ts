// Figures of the LuCI page for bench/run.mjs, measured in a real browser: Chromium (via
// playwright-core) opens the local LuCI shell, whose /ubus is the rpcd emulator running the built
// plugin on the bench sandbox. Run inside test/support/netns.sh (nothing may leave the machine):
//
//   bash test/support/netns.sh node --import tsx bench/ui-figures.ts SANDBOX_ROOT
//
// Prints one JSON object: luci.mailserver calls made when the page loads on the Overview and on
// the Mailboxes tab, the bytes of the first user_list reply, and of the whole list for scale.
import { chromium, type Page, type Request } from 'playwright-core';
import { startRpcd } from '../test/support/rpcd-emulator.ts';
import { startShell } from '../test/support/luci-shell/server.ts';
import { buildUi } from '../src-ui/build.mjs';

const root = process.argv[2];
if (!root) throw new Error('usage: ui-figures.ts SANDBOX_ROOT');

const login = { username: 'bench', password: 'bench-password-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver'], write: ['luci-app-mailserver'] };
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

await buildUi();
const rpcd = await startRpcd({ env: { MAILSERVER_ROOT: root, PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, logins: [login] });
const shell = await startShell({ rpcd });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });

interface Seen {
  method: string;
  bytes: number;
}

/** Load the page on a tab (fresh, logged in) and record every luci.mailserver call until it is idle. */
async function load(hash: string): Promise<Seen[]> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page: Page = await context.newPage();
  await page.goto(shell.url);
  await page.fill('#luci_username', login.username);
  await page.fill('#luci_password', login.password);
  await Promise.all([page.waitForNavigation(), page.click('#login-submit')]);
  await page.waitForSelector('.ms-app[data-write]');
  const idle = () => page.waitForFunction(() => !document.querySelector('.ms-app .ms-loading, .ms-app button.spinning'), undefined, { timeout: 60_000 });
  await idle();
  await page.goto(`${shell.url}#${hash}`);
  await new Promise((r) => setTimeout(r, 500));
  const seen: Seen[] = [];
  const pending: Promise<void>[] = [];
  // Only the reloaded page's calls: a poll the old page sent just before has no body to read.
  const sent = new Set<Request>();
  page.on('request', (r) => sent.add(r));
  page.on('response', (r) => {
    if (!sent.has(r.request())) return;
    const body = JSON.parse(r.request().postData() ?? 'null') as { params?: unknown[] } | null;
    if (!new URL(r.url()).pathname.startsWith('/ubus') || body?.params?.[1] !== 'luci.mailserver') return;
    pending.push(r.body().then((b) => void seen.push({ method: String(body.params![2]), bytes: b.length })));
  });
  await page.reload();
  await page.waitForSelector(`.ms-screen[data-screen="${hash}"]`);
  await idle();
  await new Promise((r) => setTimeout(r, 1000));
  await Promise.all(pending);
  await context.close();
  return seen;
}

try {
  const overview = await load('overview');
  const mailboxes = await load('mailboxes');
  const [, full] = await rpcd.call('', 'luci.mailserver', 'user_list', { limit: 10_000 });
  const page = mailboxes.find((c) => c.method === 'user_list');
  process.stdout.write(
    `${JSON.stringify({
      overviewCalls: overview.map((c) => c.method),
      mailboxesCalls: mailboxes.map((c) => c.method),
      firstPageBytes: page?.bytes ?? null,
      fullListBytes: JSON.stringify(full).length,
    })}\n`,
  );
} finally {
  await browser.close();
  await shell.close();
  rpcd.close();
}
