// Self-healing without procd: `kill -9` of each daemon in turn (Postfix's master, Dovecot,
// OpenDKIM, then Rspamd), mail handed to Postfix meanwhile, and one `mailctl tick` (cron) brings
// the daemon back, the mail arrives, and `status` says what was restarted and why. A pid file
// naming an unrelated live process (a pid reused after a reboot) is not mistaken for the daemon.
// A stop with Rspamd's main hung kills it and leaves none of its workers running.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { makeSandbox, waitForPort, insideTestNetns, eventually, waitForSubject } from '../support/sandbox.ts';
import { mailctl, mailctlAsync, ok, writeConfig } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';

// OpenDKIM refuses keys below a world-writable directory (/tmp): the sandbox lives in /run.
const box = makeSandbox('mailserver-heal-', '/run');
const root = box.root;
const H = '127.0.0.1';
const PW = { bob: 'bob-pass-22' };
const postfixDir = join(root, 'srv/mailserver/config/postfix');

interface ServiceState {
  name: string;
  running: boolean;
  pid: number | null;
  problem?: string;
}
interface Status {
  running: boolean;
  services: ServiceState[];
  restarts: { daemon: string; ok: boolean; reason: string; text: string }[];
}
const status = (): Status => JSON.parse(ok(root, ['status', '--json']).stdout) as Status;
const service = (name: string) => status().services.find((s) => s.name === name);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Local submission through Postfix's own sendmail: it queues even while the master is down. */
function sendmail(subject: string): void {
  const message = `From: alice@example.com\r\nTo: bob@example.com\r\nSubject: ${subject}\r\n\r\nsent while a daemon was down\r\n`;
  const r = spawnSync('sendmail', ['-C', postfixDir, '-f', 'alice@example.com', '-i', '--', 'bob@example.com'], { input: message, encoding: 'utf8' });
  assert.is(r.status, 0, `sendmail: ${r.stderr}`);
}

async function allRunning(): Promise<void> {
  assert.ok(await eventually(async () => status().services.every((s) => s.running), 90_000, 500), `not every daemon runs: ${JSON.stringify(status().services)}`);
}

test.before(async () => {
  try {
    await setUp();
  } catch (e) {
    // uvu reports a failed hook only as failed tests: say why.
    process.stdout.write(`set-up failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    throw e;
  }
});

async function setUp(): Promise<void> {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  // OpenDKIM first; Rspamd (whose first start compiles its rules for minutes on a busy machine) last.
  writeConfig(root, { spamFilter: false, dkim: true });
  setUci(root, 'features', 'spam_remote', '0');
  ok(root, ['start']);
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], 'alice-pass-1\n');
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin'], `${PW.bob}\n`);
  await allRunning();
  sendmail('before any kill');
  assert.ok(await waitForSubject('bob@example.com', PW.bob, 'before any kill', 120_000), 'mail flows before the kills');
}

test.after(() => {
  mailctl(root, ['stop']);
  box.cleanup();
});

async function killHealDeliver(name: string, label: string): Promise<void> {
  const pid = service(name)?.pid;
  assert.ok(pid, `${name} runs before the kill`);
  process.kill(pid!, 'SIGKILL');
  assert.ok(await eventually(async () => !alive(pid!), 10_000, 100), `${name} (pid ${pid}) died`);
  assert.is(service(name)?.running, false, `status sees ${name} down`);
  const subject = `while ${name} was down`;
  sendmail(subject);

  const tick = await mailctlAsync(root, ['tick']);
  assert.is(tick.code, 0, `tick: ${tick.stderr}${tick.stdout}`);
  assert.not.ok(tick.stdout.trimStart().startsWith('{'), `tick prints text without --json: ${tick.stdout}`);
  assert.match(tick.stdout, new RegExp(`${label} restarted at \\d\\d:\\d\\d after it died`));

  const after = status();
  assert.ok(after.services.find((s) => s.name === name)?.running, `${name} runs again after one tick`);
  assert.ok(after.restarts.some((r) => r.daemon === name && r.ok && /after it died/.test(r.text)), `status shows the restart: ${JSON.stringify(after.restarts)}`);
  assert.match(ok(root, ['status']).stdout, new RegExp(`${label} restarted at`));
  assert.ok(await waitForSubject('bob@example.com', PW.bob, subject, 120_000), `${subject}: delivered after the restart`);
}

test('kill -9 of Postfix master: one tick restarts it, queued mail is delivered, status shows the restart', async () => {
  await killHealDeliver('postfix', 'Postfix');
  await waitForPort(H, 25, 15_000);
});

test('kill -9 of Dovecot: one tick restarts it, mail deferred meanwhile is delivered', async () => {
  await killHealDeliver('dovecot', 'Dovecot');
});

test('kill -9 of OpenDKIM: one tick restarts it, mail held meanwhile is delivered', async () => {
  assert.ok(service('opendkim')?.running, 'OpenDKIM signs');
  await killHealDeliver('opendkim', 'OpenDKIM');
});

test('a daemon that cannot be brought back makes tick fail and say why; the next tick heals it', async () => {
  const pid = service('dovecot')!.pid!;
  process.kill(pid, 'SIGKILL');
  assert.ok(await eventually(async () => !alive(pid), 10_000, 100));
  // Something else took Dovecot's IMAP port meanwhile: Dovecot cannot bind it and exits.
  // (Dovecot's login processes hold the port until they notice their master is gone.)
  const squatter: Server = createServer();
  const listening = () => new Promise<boolean>((done) => squatter.once('error', () => done(false)).listen(143, H, () => done(true)));
  assert.ok(await eventually(listening, 60_000, 500), 'port 143 comes free after Dovecot died');
  try {
    const tick = await mailctlAsync(root, ['tick']);
    assert.is(tick.code, 1, `tick must fail: ${tick.stdout}`);
    assert.match(tick.stdout, /Dovecot could not be restarted at \d\d:\d\d \(it died\)/);
  } finally {
    await new Promise((done) => squatter.close(done));
  }
  const again = await mailctlAsync(root, ['tick']);
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /Dovecot restarted at/);
});

test('a pid file naming an unrelated live process: status says stopped, start starts the daemon and leaves that process alone', async () => {
  ok(root, ['stop']);
  const stranger = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    writeFileSync(join(root, 'srv/mailserver/state/postfix/pid/master.pid'), `${String(stranger.pid).padStart(10)}\n`);
    writeFileSync(join(root, 'var/run/mailserver/dovecot/master.pid'), `${stranger.pid}\n`);
    const s = status();
    for (const name of ['postfix', 'dovecot']) {
      const d = s.services.find((x) => x.name === name)!;
      assert.is(d.running, false, `${name}: not running although its pid file names a live process`);
      assert.match(String(d.problem), new RegExp(`pid ${stranger.pid}, which is sleep`));
    }
    assert.match(ok(root, ['status']).stdout, /postfix: stopped/);
    ok(root, ['start']);
    await allRunning();
    await waitForPort(H, 25, 15_000);
    await waitForPort(H, 143, 15_000);
    assert.ok(alive(stranger.pid!), 'the unrelated process was not signalled');
    assert.is.not(service('postfix')!.pid, stranger.pid);
  } finally {
    stranger.kill('SIGKILL');
  }
});

/** Something accepts connections on host:port right now. */
const accepting = (host: string, port: number) => waitForPort(host, port, 500).then(() => true, () => false);

/** main.listen, the one address Postfix and Dovecot bind. */
function listenOn(address: string): void {
  const file = join(root, 'etc/config/mailserver');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^\tlist listen '[^']*'$/m, `\tlist listen '${address}'`));
}

test('a new main.listen: apply restarts Postfix (a reload keeps its old addresses), both daemons move', async () => {
  const before = service('postfix')!.pid;
  // An address no interface has: refused by name, nothing changed, Postfix still up where it was.
  listenOn('127.0.0.4');
  const refused = mailctl(root, ['apply']);
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /main\.listen: 127\.0\.0\.4 is not an address of an interface here/);
  assert.match(readFileSync(join(postfixDir, 'main.cf'), 'utf8'), /^inet_interfaces = 127\.0\.0\.1$/m);
  assert.ok(await accepting(H, 25), 'Postfix stopped over a refused address');
  assert.is(service('postfix')!.pid, before);
  // Postfix listens only on addresses of an interface (lo has 127.0.0.1/8 alone here).
  const added = spawnSync('ip', ['addr', 'add', '127.0.0.3/8', 'dev', 'lo'], { encoding: 'utf8' });
  assert.ok(added.status === 0 || /File exists/.test(added.stderr), added.stderr);
  try {
    listenOn('127.0.0.3');
    ok(root, ['apply']);
    await waitForPort('127.0.0.3', 25, 15_000);
    await waitForPort('127.0.0.3', 143, 15_000);
    assert.is(await accepting(H, 25), false, 'Postfix still listens on the old address');
    assert.is(await accepting(H, 143), false, 'Dovecot still listens on the old address');
    assert.is.not(service('postfix')!.pid, before, 'Postfix was not restarted');
  } finally {
    listenOn(H);
    ok(root, ['apply']);
  }
  await waitForPort(H, 25, 15_000);
  await waitForPort(H, 143, 15_000);
  assert.is(await accepting('127.0.0.3', 25), false);
  sendmail('after moving back');
  assert.ok(await waitForSubject('bob@example.com', PW.bob, 'after moving back'), 'mail after the move did not arrive');
});

test('kill -9 of Rspamd (spam_filter=1): one tick restarts it, mail held meanwhile is delivered', async () => {
  setUci(root, 'features', 'spam_filter', '1');
  const apply = await mailctlAsync(root, ['apply']);
  assert.is(apply.code, 0, apply.stderr);
  await allRunning();
  assert.ok(service('rspamd')?.running, 'Rspamd filters and signs now');
  await killHealDeliver('rspamd', 'Rspamd');
});

/** Running, not a zombie a reaper has yet to collect; its session id beside. */
function procState(pid: number): { running: boolean; session: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { running: fields[0] !== 'Z' && fields[0] !== 'X', session: Number(fields[3]) };
  } catch {
    return { running: false, session: 0 };
  }
}

test('stop with Rspamd hung: its main is killed, and its workers (its sockets) go with it', async () => {
  const main = service('rspamd')?.pid;
  assert.ok(main, 'Rspamd runs (the test above)');
  // A daemonized Rspamd is a session leader: its workers are the rest of its session.
  const workers = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== main)
    .map(Number)
    .filter((pid) => procState(pid).session === main);
  assert.ok(workers.length >= 3, `workers of ${main}: ${workers.join(', ')}`);
  process.kill(main, 'SIGSTOP'); // deaf to the SIGTERM of stop
  const stop = await mailctlAsync(root, ['stop']);
  assert.is(stop.code, 0, stop.stderr);
  const left = [main, ...workers].filter((pid) => procState(pid).running);
  assert.equal(left, [], `still running after stop: ${left.map((pid) => `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`).join('; ')}`);
});

test.run();
