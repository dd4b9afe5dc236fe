// The package's init script under procd (the double in test/support/procd: procd's instance
// rules, rc.common and procd.sh with the flock on descriptor 1000), with the package's default
// configuration (runtime host, enabled): every daemon the settings need is an instance (the
// milter too) and mail sent right after start arrives; a reload triggered by a configuration
// change never leaves the lock held; kill -9 of every instance in turn (the postfix wrapper
// too) ends with each daemon supervised again; tick heals through procd; status says when
// mail is held and why; `stop` leaves nothing behind; mailctl started under umask 077 (rpcd's)
// still gives the directories their modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, waitForPort, insideTestNetns, eventually } from '../support/sandbox.ts';
import { ok } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';
import { procdDouble, processes, descendsFrom, lockHolders, sendAndReceive, routerConfig } from '../support/procd/harness.ts';

// OpenDKIM and Rspamd refuse keys below a world-writable directory (/tmp): the sandbox lives in /run.
const box = makeSandbox('mailserver-procd-', '/run');
const root = box.root;
const procd = procdDouble(root);
const { ubus, instances, initd, mailctlUmask077 } = procd;
const H = '127.0.0.1';
const BOB = { user: 'bob@example.com', password: 'bob-pass-procd-1' };

interface Status {
  running: boolean;
  held: string | null;
  services: { name: string; running: boolean; pid: number | null }[];
  restarts: { daemon: string; ok: boolean; text: string }[];
}
const status = (): Status => JSON.parse(ok(root, ['status', '--json']).stdout) as Status;

const DAEMONS = /^(master|dovecot|rspamd|opendkim|postfix-script|qmgr|pickup|smtpd|anvil|imap-login|pop3-login|auth|config|log|lmtp|stats)$/;
const ourDaemons = () => processes().filter((p) => DAEMONS.test(p.comm) || p.cmdline.includes('ban-watch'));

/** Each leftover with its parent, state and command line, and what procd still declares: enough to tell who started it. */
function leftBehind(): string {
  const all = new Map(processes().map((p) => [p.pid, p]));
  const state = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2];
    } catch {
      return '?';
    }
  };
  const each = ourDaemons().map((p) => `${p.comm}(${p.pid} ${state(p.pid)}, parent ${p.ppid} ${all.get(p.ppid)?.comm ?? '?'}): ${p.cmdline}`);
  return `${each.join('; ')}; instances: ${JSON.stringify(instances())}`;
}

const pidFile = (rel: string) => (existsSync(join(root, rel)) ? Number(readFileSync(join(root, rel), 'utf8').trim()) : null);
const MILTER_DIR = 'var/run/mailserver/rspamd-milter';

/** Each instance runs, and the daemon behind it is the one procd watches. */
function supervised(): string | null {
  const all = instances();
  for (const name of ['dovecot', 'rspamd', 'postfix', 'banwatch']) {
    if (!all[name]?.running) return `${name} is not running under procd`;
  }
  if (pidFile('var/run/mailserver/dovecot/master.pid') !== all.dovecot!.pid) return 'dovecot master is not the instance';
  if (pidFile('var/run/mailserver/rspamd/rspamd.pid') !== all.rspamd!.pid) return 'rspamd main is not the instance';
  const master = pidFile('srv/mailserver/state/postfix/pid/master.pid');
  if (master === null || !descendsFrom(master, all.postfix!.pid!)) return `postfix master ${master} is not below the wrapper ${all.postfix!.pid}`;
  return null;
}

const send = (subject: string) => sendAndReceive(BOB, subject);

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  // The package's own configuration, enabled, on the host daemons (the package default may be lxc).
  routerConfig(root, { 'main.runtime': 'host' });
  await procd.start();
  ok(root, ['user', 'add', BOB.user, '--password-stdin'], `${BOB.password}\n`);
});

test.after(async () => {
  await procd.shutdown();
  box.cleanup();
});

test('start under umask 077: every daemon the settings need is a procd instance, in dependency order', async () => {
  const r = mailctlUmask077(['start']);
  assert.is(r.code, 0, `mailctl start: ${r.stderr}`);
  const all = instances();
  assert.equal(Object.keys(all), ['dovecot', 'rspamd', 'postfix', 'banwatch'], 'declared in dependency order');
  assert.ok(all.rspamd!.command.join(' ').includes('exec "$@"') && all.rspamd!.command.includes('-f'), 'Rspamd in the foreground');
  assert.equal(all.dovecot!.command.slice(0, 2), ['dovecot', '-F']);
  assert.equal(all.dovecot!.respawn, { threshold: 3600, timeout: 5, retry: 5 });
  await waitForPort(H, 25, 60_000);
  await waitForPort(H, 143, 60_000);
  // Directories the daemons traverse keep their modes whatever the umask of whoever made them.
  const mode = (rel: string) => (statSync(join(root, rel)).mode & 0o777).toString(8);
  assert.is(mode('var/run/mailserver'), '755');
  assert.is(mode(MILTER_DIR), '750');
  assert.is(mode('srv/mailserver'), '755');
  assert.is(mode('srv/mailserver/config'), '755');
  assert.is(mode('srv/mailserver/state/postfix'), '755');
});

test('mail sent right after start is delivered (the milter is an instance)', async () => {
  await send('right after start');
  assert.is(supervised(), null);
  assert.is(status().held, null, 'nothing held once Rspamd runs');
});

test('reload after a configuration change (procd trigger) never blocks a following stop or start', async () => {
  // Switch the milter: Rspamd off (OpenDKIM signs), then on again; each commit is what
  // `uci commit mailserver` through rpcd announces.
  for (const spam of ['0', '1']) {
    setUci(root, 'features', 'spam_filter', spam);
    ubus('event', { type: 'config.change', data: { package: 'mailserver' } });
    const wanted = spam === '1' ? 'rspamd' : 'opendkim-rsa';
    assert.ok(await eventually(async () => instances()[wanted]?.running === true, 120_000, 500), `${wanted} declared by the triggered reload: ${JSON.stringify(Object.keys(instances()))}`);
    // The reload has ended: nothing it started keeps the lock.
    assert.ok(await eventually(async () => lockHolders().length === 0, 60_000, 500), `lock held by ${lockHolders().join(', ')}`);
  }
  // An instance no longer declared gets SIGTERM and leaves procd's list once it exited.
  assert.ok(await eventually(async () => !('opendkim-rsa' in instances()), 60_000, 500), 'OpenDKIM stopped once Rspamd is back');
  const stop = initd('stop', 120_000);
  assert.is(stop.code, 0, `stop returned: ${stop.output}`);
  assert.ok(await eventually(async () => Object.keys(instances()).length === 0 && ourDaemons().length === 0, 90_000, 500), `left behind: ${ourDaemons().map((p) => p.comm).join(', ')}`);
  const start = initd('start', 300_000);
  assert.is(start.code, 0, `start returned: ${start.output}`);
  assert.ok(await eventually(async () => supervised() === null, 600_000, 1000), `supervised after start: ${supervised()}`);
});

async function commitAndReload(section: string, option: string, value: string): Promise<void> {
  const before = procd.reloadsDone();
  setUci(root, section, option, value);
  ubus('event', { type: 'config.change', data: { package: 'mailserver' } });
  assert.ok(await eventually(async () => procd.reloadsDone() > before, 300_000, 500), `reload after ${section}.${option}=${value} ran`);
}

test('a configuration that cannot be rendered keeps what runs', async () => {
  const pids = Object.fromEntries(Object.entries(instances()).map(([n, i]) => [n, i.pid]));
  await commitAndReload('ports', 'smtp', 'not-a-port');
  assert.equal(Object.fromEntries(Object.entries(instances()).map(([n, i]) => [n, i.pid])), pids, 'every instance kept');
  await commitAndReload('ports', 'smtp', '25');
  assert.is(supervised(), null);
});

/** main.listen: one address (null: none, every address), committed as `uci commit` announces it. */
async function commitListen(address: string | null): Promise<void> {
  const before = procd.reloadsDone();
  const file = join(root, 'etc/config/mailserver');
  const text = readFileSync(file, 'utf8').replace(/^\tlist listen '[^']*'\n/gm, '');
  writeFileSync(file, address === null ? text : text.replace(/^(config mailserver 'main'\n)/m, `$1\tlist listen '${address}'\n`));
  ubus('event', { type: 'config.change', data: { package: 'mailserver' } });
  assert.ok(await eventually(async () => procd.reloadsDone() > before, 300_000, 500), `reload after main.listen=${address} ran`);
}

const accepting = (host: string, port: number) => waitForPort(host, port, 500).then(() => true, () => false);

test('a new main.listen: procd restarts the postfix instance (a reload keeps its old addresses), and only it', async () => {
  // Postfix listens only on addresses of an interface (lo has 127.0.0.1/8 alone here).
  const added = spawnSync('ip', ['addr', 'add', '127.0.0.3/8', 'dev', 'lo'], { encoding: 'utf8' });
  assert.ok(added.status === 0 || /File exists/.test(added.stderr), added.stderr);
  const pids = Object.fromEntries(Object.entries(instances()).map(([n, i]) => [n, i.pid]));
  const listeners = () => `${spawnSync('ss', ['-ltnp'], { encoding: 'utf8' }).stdout}\n${processes().filter((p) => /master|postfix|smtpd|postscreen/.test(p.comm)).map((p) => `${p.pid} ${p.ppid} ${p.comm} ${p.cmdline}`).join('\n')}\n${JSON.stringify(instances().postfix)} was ${pids.postfix}`;
  await commitListen('127.0.0.3');
  // The old master listened on every address, 127.0.0.3 too: only a new instance proves the move.
  // (procd keeps the old pid until the wrapper's `postfix stop` has ended the old master.)
  const restarted = async () => instances().postfix?.running === true && instances().postfix!.pid !== pids.postfix;
  assert.ok(await eventually(restarted, 120_000, 500), `the postfix instance was not restarted: ${listeners()}`);
  await waitForPort('127.0.0.3', 25, 60_000);
  await waitForPort('127.0.0.3', 143, 15_000);
  // (The old master's children let go of the listener a moment after it ended.)
  assert.ok(await eventually(async () => !(await accepting(H, 25)), 30_000, 500), `Postfix still listens on the old address: ${listeners()}`);
  assert.is(instances().dovecot!.pid, pids.dovecot, 'Dovecot was restarted (a reload moves it)');
  await commitListen(null);
  await waitForPort(H, 25, 60_000);
  assert.ok(await eventually(async () => supervised() === null, 120_000, 1000), `supervised after moving back: ${supervised()}`);
  await send('after moving main.listen back');
});

test('kill -9 of every instance in turn (the postfix wrapper too): each daemon is supervised again and mail flows', async () => {
  for (const name of ['dovecot', 'rspamd', 'postfix', 'banwatch']) {
    const before = instances()[name]!.pid!;
    process.kill(before, 'SIGKILL');
    assert.ok(
      await eventually(async () => {
        const now = instances()[name];
        return now?.running === true && now.pid !== before && supervised() === null;
      }, 600_000, 1000),
      `${name} supervised again after kill -9 of ${before}: ${supervised()}`,
    );
    if (name === 'postfix') {
      const masters = processes().filter((p) => p.comm === 'master');
      assert.is(masters.length, 1, 'one master: the stranded one was stopped');
    }
    await send(`after kill -9 of ${name}`);
  }
});

test('mail is held while the milter is gone; tick gives procd its instance back', async () => {
  ubus('delete', { name: 'mailserver', instance: 'rspamd' });
  // (Its workers end a moment after the main process: until then it looks like one loading.)
  assert.ok(await eventually(async () => /Rspamd is not running/.test(status().held ?? ''), 60_000, 500), `held: ${status().held}`);
  const text = ok(root, ['status']).stdout;
  assert.match(text, /held: mail is held .*Rspamd is not running/);
  const tick = mailctlUmask077(['tick']);
  assert.is(tick.code, 0, `tick: ${tick.stdout}${tick.stderr}`);
  assert.ok(instances().rspamd?.running, 'rspamd declared again');
  assert.ok(await eventually(async () => supervised() === null && status().held === null, 600_000, 1000), `healed: ${supervised()}`);
  assert.ok(status().restarts.some((r) => r.daemon === 'rspamd' && r.ok), 'the restart is recorded');
});

test('mailctl stop goes through procd and leaves nothing behind', async () => {
  const r = mailctlUmask077(['stop']);
  assert.is(r.code, 0, `mailctl stop: ${r.stderr}`);
  assert.ok(await eventually(async () => Object.keys(instances()).length === 0 && ourDaemons().length === 0, 90_000, 500), `left behind: ${leftBehind()}`);
  assert.ok(status().services.every((s) => !s.running));
  // tick does not start what procd was told to stop.
  const tick = mailctlUmask077(['tick']);
  assert.is(tick.code, 0, tick.stderr);
  assert.is(ourDaemons().length, 0, 'tick started nothing');
});

test.run();
