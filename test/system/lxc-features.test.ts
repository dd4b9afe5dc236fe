// Brute-force bans and virus scanning on the lxc runtime, in one container (installed once from
// the cached rootfs, sharing the test's network namespace: lxc.network host). ClamAV runs inside
// the container, started by its init, with a signature database made here (an .ndb body
// signature of the EICAR test string: the machine has no internet) and freshclam pointed at a
// loopback mirror that does not answer. The bans are the router's: our nftables table and the
// watcher on the host beside the container, following the logs it writes to the bind-mounted
// log directory; clients come from 127.0.0.x.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, waitForSubject } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { imapLogin as probeImapLogin, connects as probeConnects } from '../support/ban-probes.ts';
import { setUci } from '../support/dns.ts';
import { cachedRootfs } from '../support/lxc.ts';

const box = makeSandbox('mailserver-lxc-features-');
const root = box.root;
const H = '127.0.0.1';
const USER = 'alice@example.com';
const PW = 'alice-pass-1';
const N = 5;
const lxcPath = join(root, 'srv/lxc');
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
/** clamd names unsigned (custom) signatures with this suffix. */
const DETECTION = 'Mailserver.Test.EICAR.UNOFFICIAL';
const json = (args: string[]) => JSON.parse(ok(root, [...args, '--json']).stdout);
let n = 0;

/** The container's init as LXC sees it. */
function initPid(): number {
  const r = spawnSync('lxc-info', ['-n', 'mailserver', '-P', lxcPath, '-p', '-H'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}
const pidNamespace = (pid: number) => spawnSync('readlink', [`/proc/${pid}/ns/pid`], { encoding: 'utf8' }).stdout.trim();

async function send(body: string) {
  const subject = `lxc virus ${++n}`;
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: [USER], subject, body });
  return { ok: r.ok, code: r.code, error: r.error, subject };
}

const imapLogin = (source: string, password: string) => probeImapLogin(H, USER, source, password);
const connects = (source: string, port: number) => probeConnects(H, source, port);

const bans = (): string[] => json(['ban', 'list']).items.map((b: { address: string }) => b.address);

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, {
    runtime: 'lxc',
    extra: `
config ban 'ban'
\toption max_failures '${N}'
\toption find_time '600'
\toption ban_time '600'
`,
  });
  setUci(root, 'features', 'fail2ban', '1');
  setUci(root, 'features', 'virus_scan', '1');
  // freshclam must never reach the internet: a loopback mirror where nothing listens.
  setUci(root, 'features', 'virus_mirror', 'http://127.0.0.1:9');
  // The custom signature database (ClamAV's .ndb: Name:Target:Offset:HexSignature), on data_path.
  const signatures = join(root, 'srv/mailserver/state/clamav');
  mkdirSync(signatures, { recursive: true });
  writeFileSync(join(signatures, 'mailserver-test.ndb'), `Mailserver.Test.EICAR:0:*:${Buffer.from(EICAR).toString('hex')}\n`, { mode: 0o644 });
  ok(root, ['install', '--rootfs', cachedRootfs()]);
  ok(root, ['user', 'add', USER, '--password-stdin'], `${PW}\n`);
  await waitForPort(H, 25, 30_000);
  await waitForPort(H, 143, 30_000);
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

test('virus_scan=1 on lxc: freshclam, clamd and clamav-milter run inside the container; status shows them', async () => {
  assert.ok(await eventually(async () => json(['status']).virus.state === 'running' && json(['status']).virus.milter?.running === true, 60_000), JSON.stringify(json(['status']).virus));
  const s = json(['status']);
  assert.is(s.running, true, JSON.stringify(s.services));
  assert.is(s.virus.signatures.files, 1);
  assert.ok(s.virus.clamd.memoryBytes > 0, JSON.stringify(s.virus));
  // The container's own clamd: its pid namespace is the container's, not ours.
  assert.is(pidNamespace(s.virus.clamd.pid), pidNamespace(initPid()));
  assert.is.not(pidNamespace(s.virus.clamd.pid), pidNamespace(process.pid));
  // freshclam runs too, and says why it has nothing new (the mirror does not answer).
  assert.ok(await eventually(async () => json(['status']).virus.freshclam.lastError !== null, 30_000), JSON.stringify(json(['status']).virus));
  assert.is(json(['status']).virus.freshclam.running, true);
  // Postfix inside asks the milter on the container's /run.
  assert.match(readFileSync(join(root, 'srv/mailserver/config/postfix/main.cf'), 'utf8'), /^smtpd_milters = unix:\/var\/run\/mailserver\/clamav-milter\/clamav-milter\.sock$/m);
  // Neither feature is listed as without effect any more.
  assert.not.ok(s.notices.some((x: string) => /fail2ban|virus_scan/.test(x)), JSON.stringify(s.notices));
});

test('EICAR sent by SMTP is refused with 5xx naming the detection; a clean message arrives and is read over IMAP', async () => {
  const r = await send(EICAR);
  assert.is(r.ok, false, JSON.stringify(r));
  assert.ok(typeof r.code === 'number' && Math.floor(r.code / 100) === 5, JSON.stringify(r));
  assert.match(r.error ?? '', new RegExp(DETECTION.replace(/\./g, '\\.')));
  const clean = await send('a perfectly clean message');
  assert.is(clean.ok, true, JSON.stringify(clean));
  assert.ok(await waitForSubject(USER, PW, clean.subject, 30_000), `${clean.subject} did not arrive`);
});

test('fail2ban=1 on lxc: N failed IMAP logins from 127.0.0.2 ban it (connections refused) while 127.0.0.3 still logs in; `ban del` lets it in again', async () => {
  assert.is(json(['status']).bans.watching, true);
  for (let i = 0; i < N; i++) assert.is(await imapLogin('127.0.0.2', 'wrong-wrong'), 'failed');
  assert.ok(await eventually(async () => bans().includes('127.0.0.2'), 10_000, 200), 'banned');
  assert.ok(await eventually(async () => !(await connects('127.0.0.2', 143)), 5_000), 'IMAP refuses the banned address');
  assert.is(await connects('127.0.0.2', 25), false, 'SMTP refuses it too');
  assert.is(await imapLogin('127.0.0.3', PW), 'ok', 'someone else is not affected');
  assert.ok(json(['status']).bans.count >= 1);
  ok(root, ['ban', 'del', '127.0.0.2']);
  assert.not.ok(bans().includes('127.0.0.2'));
  assert.is(await imapLogin('127.0.0.2', PW), 'ok');
});

test('under procd the lxc runtime declares the container (lxc-start -F) and the ban watcher beside it', () => {
  const lines = ok(root, ['procd-instances']).stdout.trim().split('\n');
  assert.is(lines.length, 2, lines.join('\n'));
  assert.is(lines[0], `container 60 lxc-start -n mailserver -P ${lxcPath} -F`);
  assert.match(lines[1]!, /^banwatch 0 \S+ \S+ ban-watch --supervised$/);
});

test('stop ends the container and the watcher; virus_scan=0 then start: no ClamAV process in the container, EICAR is delivered', async () => {
  ok(root, ['stop']);
  assert.is(json(['status']).bans.watching, false);
  setUci(root, 'features', 'virus_scan', '0');
  ok(root, ['start']);
  await waitForPort(H, 25, 30_000);
  const inside = (name: string) => spawnSync('pgrep', ['--ns', String(initPid()), '--nslist', 'pid', '-x', name], { encoding: 'utf8' }).stdout.trim();
  assert.is(inside('clamd'), '');
  assert.is(inside('clamav-milter'), '');
  assert.is(json(['status']).virus.state, 'off');
  assert.is(json(['status']).bans.watching, true, 'the watcher is back with the container');
  const r = await send(EICAR);
  assert.is(r.ok, true, JSON.stringify(r));
});

test.run();
