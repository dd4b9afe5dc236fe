// Virus scanning with the real ClamAV: our clamd with a signature database made here (an .ndb
// body signature of the EICAR test string: the machine has no internet), clamav-milter as
// Postfix's milter (spam_filter=0) or Rspamd's antivirus module (spam_filter=1). freshclam runs
// against a loopback mirror that does not answer, so only its error path is exercised.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGetUnix } from '../support/unix-socket.ts';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, waitForSubject } from '../support/sandbox.ts';
import { MAILCTL, mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';
import { EICAR, DETECTION, DEAD_MIRROR, installSignatures } from '../support/clamav.ts';

const box = makeSandbox('mailserver-virus-', '/run');
const root = box.root;
const H = '127.0.0.1';
const BOB = { user: 'bob@example.com', password: 'bob-pass-22' };
const json = (args: string[]) => JSON.parse(ok(root, [...args, '--json']).stdout);
const virus = () => json(['status']).virus;
let n = 0;

interface Sent {
  ok: boolean;
  code?: number | string | null;
  error?: string;
  subject: string;
}

async function send(body: string): Promise<Sent> {
  const subject = `virus ${++n}`;
  const r = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: [BOB.user], subject, body });
  return { ok: r.ok, code: r.code, error: r.error, subject };
}

async function delivered(body: string): Promise<void> {
  const r = await send(body);
  assert.is(r.ok, true, JSON.stringify(r));
  assert.ok(await waitForSubject(BOB.user, BOB.password, r.subject, 30_000), `${r.subject} did not arrive`);
}

/** A sending MTA retries after a 4xx: the message is accepted (and arrives) once scanning works. */
async function deliveredOnRetry(body: string): Promise<void> {
  let last: Sent | null = null;
  const accepted = await eventually(async () => (last = await send(body)).ok, 60_000, 1000);
  assert.ok(accepted, `still refused: ${JSON.stringify(last)}\n${logTail('clamav-milter.log')}\n${logTail('clamd.log')}`);
  assert.ok(await waitForSubject(BOB.user, BOB.password, last!.subject, 30_000), `${last!.subject} did not arrive`);
}

const logTail = (name: string) => `${name}: ${(readFileSync(join(root, 'var/log/mailserver', name), { encoding: 'utf8', flag: 'a+' })).trim().split('\n').slice(-8).join('\n')}`;

/**
 * apply, showing the daemons' last log lines when it fails. Rspamd's first start compiles its
 * rules before it forks: minutes on a busy machine, so this waits longer than mailctl().
 */
function apply(): void {
  const r = spawnSync(MAILCTL, ['apply'], { env: { ...process.env, MAILSERVER_ROOT: root }, encoding: 'utf8', timeout: 360_000 });
  if (r.status !== 0) throw new Error(`apply: ${r.stderr}\n${logTail('rspamd.log')}\n${logTail('clamd.log')}\n${logTail('rspamd-start.log')}`);
}

async function refused(body: string, klass: 4 | 5): Promise<Sent> {
  const r = await send(body);
  assert.is(r.ok, false, JSON.stringify(r));
  assert.ok(typeof r.code === 'number' && Math.floor(r.code / 100) === klass, `expected ${klass}xx: ${JSON.stringify(r)}`);
  return r;
}

/** ClamAV processes of this sandbox (their command lines name its config directory). */
function clamavProcesses(): string[] {
  const r = spawnSync('pgrep', ['-a', '-f', join(root, 'srv/mailserver/config/clamav')], { encoding: 'utf8' });
  return r.stdout.trim().split('\n').filter((x) => x !== '');
}

function stopClamd(): void {
  const pid = virus().clamd.pid as number;
  process.kill(pid, 'SIGTERM');
}

/** Rspamd's controller: a Unix socket only root reaches. */
const RSPAMD_CONTROLLER = join(root, 'var/run/mailserver/rspamd/controller.sock');

async function rspamdReady(timeoutMs: number): Promise<void> {
  const ok = await eventually(async () => (await httpGetUnix(RSPAMD_CONTROLLER, '/ping'))?.includes('pong') ?? false, timeoutMs, 250);
  if (!ok) throw new Error('rspamd controller did not answer /ping');
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { dkim: false, spamFilter: false });
  setUci(root, 'features', 'virus_scan', '0');
  // freshclam must never reach the internet: a loopback mirror where nothing listens.
  setUci(root, 'features', 'virus_mirror', DEAD_MIRROR);
  setUci(root, 'features', 'spam_remote', '0');
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  ok(root, ['user', 'add', BOB.user, '--password-stdin'], `${BOB.password}\n`);
});

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

test('virus_scan=0: no ClamAV process runs and the EICAR message is delivered', async () => {
  assert.equal(clamavProcesses(), []);
  assert.is(virus().state, 'off');
  await delivered(EICAR);
});

test('virus_scan=1 without signatures: status says so, freshclam fails clearly, mail waits (4xx)', async () => {
  setUci(root, 'features', 'virus_scan', '1');
  apply();
  // freshclam (daemon) tries the dead mirror at once and says why it has no signatures.
  assert.ok(await eventually(async () => virus().freshclam.lastError !== null, 30_000), JSON.stringify(virus()));
  const v = virus();
  assert.is(v.state, 'no signatures');
  assert.match(v.message, /no virus signatures yet: freshclam failed \(.+\).*mail waits/);
  assert.is(v.clamd.running, false);
  assert.is(v.freshclam.running, true);
  const text = ok(root, ['status']).stdout;
  assert.match(text, /virus scan: no signatures/);
  // Nothing else broke: Postfix and Dovecot run; unscannable mail is deferred, not accepted.
  assert.is(json(['status']).running, true);
  await refused('clean while unscanned', 4);
});

test('clamav-milter (spam_filter=0): EICAR refused at SMTP time with 5xx naming the detection; clean mail delivered', async () => {
  installSignatures(root);
  apply();
  assert.ok(await eventually(async () => virus().state === 'running' && virus().milter?.running === true, 60_000), JSON.stringify(virus()));
  const v = virus();
  assert.ok(v.clamd.memoryBytes > 0, JSON.stringify(v));
  assert.is(v.signatures.files, 1);
  assert.is(v.signatures.ageDays, 0);
  assert.match(readFileSync(join(root, 'srv/mailserver/config/postfix/main.cf'), 'utf8'), /^smtpd_milters = unix:\S+\/clamav-milter\.sock$/m);
  const r = await refused(EICAR, 5);
  assert.match(r.error ?? '', new RegExp(DETECTION.replace(/\./g, '\\.')));
  await delivered('a perfectly clean message');
});

test('clamav-milter: clamd stopped → the message is deferred (4xx), then delivered once clamd runs again', async () => {
  stopClamd();
  assert.ok(await eventually(async () => !virus().clamd.running, 15_000));
  assert.match(virus().message, /clamd is not running/);
  await refused('clean but unscanned', 4);
  await refused(EICAR, 4);
  apply();
  assert.ok(await eventually(async () => virus().clamd.running && virus().milter.running, 60_000), JSON.stringify(virus()));
  await deliveredOnRetry('clean after clamd came back');
});

test('Rspamd (spam_filter=1): EICAR from 127.0.0.2 refused with 5xx naming the detection; clean mail delivered', async () => {
  setUci(root, 'features', 'spam_filter', '1');
  apply();
  await rspamdReady(300_000);
  // clamav-milter is gone: Rspamd asks clamd itself.
  assert.ok(await eventually(async () => virus().milter === null && !clamavProcesses().some((p) => p.includes('clamav-milter')), 15_000), clamavProcesses().join('\n'));
  assert.match(readFileSync(join(root, 'srv/mailserver/config/postfix/main.cf'), 'utf8'), /^smtpd_milters = unix:\S+\/rspamd-milter\/milter\.sock$/m);
  const r = await refused(EICAR, 5);
  assert.match(r.error ?? '', new RegExp(DETECTION.replace(/\./g, '\\.')));
  await delivered('clean through rspamd');
});

test('Rspamd: clamd stopped → the message is deferred (4xx), not accepted unscanned', async () => {
  stopClamd();
  assert.ok(await eventually(async () => !virus().clamd.running, 15_000));
  await refused('clean but unscanned by rspamd', 4);
  await refused(EICAR, 4);
  apply();
  assert.ok(await eventually(async () => virus().clamd.running, 60_000));
  await deliveredOnRetry('clean after clamd came back (rspamd)');
});

test('virus_scan=0 again: every ClamAV process stops and the EICAR message is delivered', async () => {
  setUci(root, 'features', 'virus_scan', '0');
  apply();
  assert.ok(await eventually(async () => clamavProcesses().length === 0, 15_000), clamavProcesses().join('\n'));
  assert.is(virus().state, 'off');
  await delivered(EICAR);
});

test.run();
