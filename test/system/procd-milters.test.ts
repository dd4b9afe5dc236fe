// The package's init script under the procd double (test/support/procd) with Rspamd off: OpenDKIM
// signs (dkim=1) and clamav-milter scans (virus_scan=1, signatures made here, freshclam pointed at
// a dead loopback mirror). clamav-milter is an instance between clamd and Postfix, so mail sent
// right after start is scanned and delivered; kill -9 of clamd or of the milter ends with both
// supervised again; domain changes reload OpenDKIM without procd counting a crash; a Postfix
// wrapper that procd has to SIGKILL at its stop leaves a master that the next start takes over;
// `stop` leaves no process behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, waitForPort, insideTestNetns, eventually, waitForSubject, runMailClient } from '../support/sandbox.ts';
import { ok, writeConfig } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';
import { EICAR, DETECTION, DEAD_MIRROR, installSignatures } from '../support/clamav.ts';
import { procdDouble, processes, descendsFrom } from '../support/procd/harness.ts';

// OpenDKIM refuses keys below a world-writable directory (/tmp): the sandbox lives in /run.
const box = makeSandbox('mailserver-procd-milters-', '/run');
const root = box.root;
const procd = procdDouble(root);
const { instances, initd, mailctlUmask077 } = procd;
const H = '127.0.0.1';
const BOB = { user: 'bob@example.com', password: 'bob-pass-procd-2' };
const RUN = 'var/run/mailserver';
let n = 0;

const DAEMONS = /^(master|dovecot|opendkim|clamd|clamav-milter|freshclam|postfix-script|qmgr|pickup|smtpd|cleanup|anvil|imap-login|pop3-login|auth|config|log|lmtp|stats)$/;
const ourDaemons = () => processes().filter((p) => DAEMONS.test(p.comm) || p.cmdline.includes('ban-watch'));
const pidFile = (rel: string) => (existsSync(join(root, rel)) ? Number(readFileSync(join(root, rel), 'utf8').trim()) : null);
const logTail = (name: string) => `${name}: ${readFileSync(join(root, 'var/log/mailserver', name), { encoding: 'utf8', flag: 'a+' }).trim().split('\n').slice(-6).join('\n')}`;

/** Each instance runs, and the daemon behind it is the one procd watches. */
function supervised(): string | null {
  const all = instances();
  for (const name of ['dovecot', 'freshclam', 'clamd', 'clamav-milter', 'opendkim-rsa', 'postfix']) {
    if (!all[name]?.running) return `${name} is not running under procd`;
  }
  if (pidFile(`${RUN}/clamd/clamd.pid`) !== all.clamd!.pid) return 'clamd is not the instance';
  if (pidFile(`${RUN}/clamav-milter/clamav-milter.pid`) !== all['clamav-milter']!.pid) return 'clamav-milter is not the instance (or still waits for clamd)';
  if (pidFile(`${RUN}/opendkim/opendkim.pid`) !== all['opendkim-rsa']!.pid) return 'opendkim is not the instance';
  const master = pidFile('srv/mailserver/state/postfix/pid/master.pid');
  if (master === null || !descendsFrom(master, all.postfix!.pid!)) return `postfix master ${master} is not below the wrapper ${all.postfix!.pid}`;
  return null;
}

/** d, s and a of each DKIM-Signature header of a message. */
function dkimSignatures(raw: string): string[] {
  const head = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  return head.split(/\r?\n/).filter((h) => /^DKIM-Signature:/i.test(h)).map((h) => {
    const tag = (t: string) => new RegExp(`[;:\\s]${t}=([^;\\s]+)`).exec(h)?.[1];
    return `${tag('d')} ${tag('s')} ${tag('a')}`;
  });
}

interface Sent {
  ok: boolean;
  code?: number | string | null;
  error?: string;
}

/** Like any MTA: a 4xx (a milter not up yet) is retried until the message is accepted, then read by IMAP. */
async function delivered(what: string): Promise<void> {
  const subject = `${what} (${++n})`;
  let last: Sent | null = null;
  const accepted = await eventually(async () => {
    last = await runMailClient({ action: 'send', host: H, port: 25, tls: 'none', from: 'carol@example.net', to: [BOB.user], subject, body: 'clean, over procd\r\n' });
    return last.ok;
  }, 300_000, 2000);
  assert.ok(accepted, `${subject}: refused ${JSON.stringify(last)}\n${logTail('clamav-milter.log')}\n${logTail('clamd.log')}`);
  assert.ok(await waitForSubject(BOB.user, BOB.password, subject, 120_000), `${subject}: not delivered`);
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { dkim: true, spamFilter: false, workerIdle: 0 });
  setUci(root, 'features', 'virus_scan', '1');
  setUci(root, 'features', 'virus_mirror', DEAD_MIRROR);
  installSignatures(root);
  await procd.start();
  ok(root, ['user', 'add', BOB.user, '--password-stdin'], `${BOB.password}\n`);
});

test.after(async () => {
  await procd.shutdown();
  box.cleanup();
});

test('clamav-milter is an instance between clamd and Postfix: clean mail right after start arrives, EICAR is refused', async () => {
  const r = mailctlUmask077(['start']);
  assert.is(r.code, 0, `mailctl start: ${r.stderr}`);
  const names = Object.keys(instances());
  assert.equal(names, ['dovecot', 'freshclam', 'clamd', 'clamav-milter', 'opendkim-rsa', 'postfix', 'banwatch'], 'declared in dependency order');
  await waitForPort(H, 25, 60_000);
  await delivered('right after start');
  assert.is(supervised(), null);
  const eicar = await runMailClient({ action: 'send', host: H, port: 25, tls: 'none', from: 'carol@example.net', to: [BOB.user], subject: 'eicar', body: EICAR });
  assert.is(eicar.ok, false, JSON.stringify(eicar));
  assert.ok(typeof eicar.code === 'number' && Math.floor(eicar.code / 100) === 5, `5xx: ${JSON.stringify(eicar)}`);
  assert.match(eicar.error ?? '', new RegExp(DETECTION.replace(/\./g, '\\.')));
});

test('kill -9 of clamd, then of clamav-milter: procd respawns each and mail is accepted again', async () => {
  for (const name of ['clamd', 'clamav-milter']) {
    const before = instances()[name]!.pid!;
    process.kill(before, 'SIGKILL');
    assert.ok(
      await eventually(async () => instances()[name]?.pid !== before && supervised() === null, 300_000, 1000),
      `${name} supervised again after kill -9 of ${before}: ${supervised()}`,
    );
    await delivered(`after kill -9 of ${name}`);
  }
});

test('six domains added in a row: OpenDKIM reloads in place (no crash for procd) and signs for the last', async () => {
  const before = instances()['opendkim-rsa']!.pid!;
  const domains = [1, 2, 3, 4, 5, 6].map((i) => `d${i}.example.org`);
  for (const d of domains) ok(root, ['domain', 'add', d]);
  const last = domains[domains.length - 1]!;
  const all = instances();
  assert.is(all['opendkim-rsa']!.running, true);
  assert.is(all['opendkim-rsa']!.pid, before, 'the same process: reloaded, never restarted');
  assert.is(supervised(), null);
  const sender = { user: `dana@${last}`, password: 'dana-pass-procd-3' };
  ok(root, ['user', 'add', sender.user, '--password-stdin'], `${sender.password}\n`);
  const subject = `signed for ${last}`;
  const r = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: sender.user, password: sender.password, from: sender.user, to: [BOB.user], subject, body: 'signed body' });
  assert.is(r.ok, true, JSON.stringify(r));
  let raw = '';
  assert.ok(
    await eventually(async () => {
      const got = await runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user: BOB.user, password: BOB.password });
      raw = (got.ok ? got.messages.find((m) => m.subject === subject)?.raw : undefined) ?? '';
      return raw !== '';
    }, 120_000, 500),
    `${subject} did not arrive`,
  );
  const keys = JSON.parse(ok(root, ['dkim', 'show', last, '--json']).stdout).keys as { selector: string; algorithm: string; state: string }[];
  const selector = keys.find((k) => k.algorithm === 'rsa' && k.state === 'active')?.selector;
  assert.ok(selector, JSON.stringify(keys));
  // The key is not in the test DNS: the signature's domain and selector are what is checked.
  assert.equal(dkimSignatures(raw), [`${last} ${selector} rsa-sha256`]);
});

test('a Postfix stop that outlasts term_timeout: procd SIGKILLs the wrapper, the next start takes the master over', async () => {
  // A frozen wrapper cannot act on procd's SIGTERM: to procd it is a stop that outlasted
  // term_timeout (30 s), and it gets SIGKILL while master and postfix-script run on.
  const wrapper = instances().postfix!.pid!;
  const stranded = pidFile('srv/mailserver/state/postfix/pid/master.pid')!;
  process.kill(wrapper, 'SIGSTOP');
  const stop = initd('stop', 120_000);
  assert.is(stop.code, 0, `stop returned: ${stop.output}`);
  assert.ok(await eventually(async () => Object.keys(instances()).length === 0, 120_000, 500), `instances left: ${Object.keys(instances())}`);
  assert.match(readFileSync(join(procd.work, 'procd.log'), 'utf8'), /mailserver::postfix pid \d+ not stopped on SIGTERM, sending SIGKILL/);
  assert.ok(processes().some((p) => p.pid === stranded && p.comm === 'master'), 'the master outlived its wrapper');
  const start = initd('start', 300_000);
  assert.is(start.code, 0, `start returned: ${start.output}`);
  assert.ok(await eventually(async () => supervised() === null, 300_000, 1000), `supervised after start: ${supervised()}`);
  assert.equal(processes().filter((p) => p.comm === 'master').map((p) => p.pid).filter((p) => p === stranded), [], 'the stranded master was stopped');
  assert.is(processes().filter((p) => p.comm === 'master').length, 1, 'one master');
  await delivered('after a stop that outlasted term_timeout');
});

test('mailctl stop leaves no daemon behind (ClamAV and OpenDKIM included)', async () => {
  const r = mailctlUmask077(['stop']);
  assert.is(r.code, 0, `mailctl stop: ${r.stderr}`);
  assert.ok(
    await eventually(async () => Object.keys(instances()).length === 0 && ourDaemons().length === 0, 120_000, 500),
    `left behind: ${ourDaemons().map((p) => `${p.comm}(${p.pid})`).join(', ')}`,
  );
});

test.run();
