// The lxc runtime end to end: `mailctl install` makes a real container from the cached rootfs
// (scripts/setup.sh builds it), the daemons run inside it sharing the test network namespace,
// and everything a user sees works as on the host: SMTP from 127.0.0.2 in, IMAP with STARTTLS
// out, the Maildir on the host under data_path. Then the faults: a bad tarball, a name taken by
// another container, a full disk, a killed container init (a second Postfix, the sender's, queues meanwhile), and uninstall with and without --purge.
// One container serves every case after the full-disk one (each container costs an unpacked
// rootfs and a start): the cases go on from the state the one before left, uninstall comes last.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeSandbox, runMailClient, waitForPort, insideTestNetns, eventually, waitForSubject } from '../support/sandbox.ts';
import { mailctl, mailctlAsync, ok, writeConfig } from '../support/mailctl.ts';
import { setUci, signForTestBind } from '../support/dns.ts';
import { verifyDkim } from '../support/dkim.ts';
import { httpGetUnix } from '../support/unix-socket.ts';
import { cachedRootfs } from '../support/lxc.ts';
import { startSenderMta } from '../support/sender-mta.ts';

const box = makeSandbox('mailserver-lxc-');
const root = box.root;
const H = '127.0.0.1';
const PW = 'alice-pass-1';
const lxcPath = join(root, 'srv/lxc');
const containerDir = join(lxcPath, 'mailserver');
const maildir = join(root, 'srv/mailserver/mail/example.com/alice');

interface Status {
  running: boolean;
  held: string | null;
  ports: { open: boolean }[];
  services: { name: string; running: boolean; problem?: string }[];
  container: { name: string; state: string; address: string | null; memoryBytes: number | null; distribution: string | null } | null;
  restarts: { daemon: string; ok: boolean; text: string }[];
}
const status = (): Status => JSON.parse(ok(root, ['status', '--json']).stdout) as Status;

/** The container's init as the host sees it (LXC's own answer, not ours). */
function initPid(): number | null {
  const r = spawnSync('lxc-info', ['-n', 'mailserver', '-P', lxcPath, '-p', '-H'], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim());
  return r.status === 0 && pid > 0 ? pid : null;
}

const send = (subject: string) =>
  runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: ['alice@example.com'], subject, body: 'into the container' });

/** Message files in the Maildir on the host (paths). */
const messagesOnHost = () => ['new', 'cur'].flatMap((d) => (existsSync(join(maildir, d)) ? readdirSync(join(maildir, d)).map((f) => join(maildir, d, f)) : []));

test.before(() => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { runtime: 'lxc' });
});

test.after(() => {
  mailctl(root, ['stop']);
  // The small filesystem of the full-disk case holds the container: gone with it.
  spawnSync('umount', [lxcPath]);
  box.cleanup();
});

test('a tarball that does not match its .sha256: install fails naming the rootfs phase, nothing is left behind or running', () => {
  const bad = join(root, 'bad-rootfs.tar.gz');
  writeFileSync(bad, 'not a rootfs');
  writeFileSync(`${bad}.sha256`, `${'0'.repeat(64)}  bad-rootfs.tar.gz\n`);
  const r = mailctl(root, ['install', '--rootfs', bad]);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /install failed in phase rootfs: .*does not match its checksum/);
  assert.not.ok(existsSync(join(containerDir, 'rootfs')), 'no rootfs');
  assert.is(initPid(), null, 'no container runs');
  assert.is(status().running, false);
});

test('a container name used by a container mailctl did not make: install refuses, naming the phase, and leaves it alone', () => {
  const other = join(lxcPath, 'router-vpn');
  mkdirSync(other, { recursive: true });
  const theirs = 'lxc.uts.name = router-vpn\nlxc.rootfs.path = dir:/srv/lxc/router-vpn/rootfs\n';
  writeFileSync(join(other, 'config'), theirs);
  setUci(root, 'main', 'container', 'router-vpn');
  try {
    const r = mailctl(root, ['install', '--rootfs', cachedRootfs()]);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /install failed in phase rootfs: container name 'router-vpn' is already used/);
    assert.is(readFileSync(join(other, 'config'), 'utf8'), theirs, 'their config untouched');
    assert.not.ok(existsSync(join(other, 'rootfs')));
  } finally {
    setUci(root, 'main', 'container', 'mailserver');
  }
});

test('lxc.path on a small full filesystem: install fails naming the phase and the file, leaves no container registered or running; once space is freed install succeeds', () => {
  // A few MiB of tmpfs in the test's own mount namespace; the rootfs needs hundreds.
  mkdirSync(lxcPath, { recursive: true });
  assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', lxcPath]).status, 0, 'mount a small tmpfs on lxc.path');
  const full = mailctl(root, ['install', '--rootfs', cachedRootfs()]);
  assert.is.not(full.code, 0);
  assert.match(full.stderr, /install failed in phase rootfs: no space left to write \S*\/srv\/lxc\/mailserver\/rootfs\.partial\/\S+/);
  assert.not.ok(existsSync(containerDir), 'nothing of the container is left under lxc.path');
  assert.is(spawnSync('lxc-ls', ['-P', lxcPath], { encoding: 'utf8' }).stdout.trim(), '', 'LXC lists no container');
  assert.is(initPid(), null, 'no container runs');
  assert.is(status().container?.state, 'absent');

  // Space freed: the same filesystem, grown.
  assert.is(spawnSync('mount', ['-o', 'remount,size=2g', lxcPath]).status, 0, 'grow the tmpfs');
  const install = ok(root, ['install', '--rootfs', cachedRootfs()]);
  // The job's phases, as the Overview's progress bar names them.
  for (const phase of ['rootfs', 'packages', 'configure', 'start']) assert.match(install.stderr, new RegExp(`\\] ${phase}\\b`), `phase ${phase} reported`);
  assert.match(install.stdout, /rootfs made from .*\.tar\.gz/);
  assert.match(install.stdout, /container 'mailserver' started/);
});

test('installed from the cached tarball (above) → user add → start: mail sent by SMTP from 127.0.0.2 arrives and is read over IMAP with STARTTLS; the Maildir is on the host', async () => {
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], `${PW}\n`);
  ok(root, ['start']);
  await waitForPort(H, 25, 30_000);
  await waitForPort(H, 143, 30_000);
  const s = status();
  assert.is(s.running, true, JSON.stringify(s.services));
  assert.is(s.container?.name, 'mailserver');
  assert.is(s.container?.state, 'running');
  assert.match(s.container?.distribution ?? '', /Debian GNU\/Linux 12/);
  assert.ok((s.container?.memoryBytes ?? 0) > 0, 'memory use of the container is known');
  // The daemons are the container's: their pid namespace is not ours.
  const ns = (pid: number) => spawnSync('readlink', [`/proc/${pid}/ns/pid`], { encoding: 'utf8' }).stdout.trim();
  assert.is.not(ns(initPid()!), ns(process.pid));

  const sent = await send('into the container');
  assert.is(sent.ok, true, JSON.stringify(sent));
  assert.ok(await waitForSubject('alice@example.com', PW, 'into the container'), 'read over IMAP with STARTTLS');
  const files = messagesOnHost();
  assert.ok(files.some((f) => readFileSync(f, 'utf8').includes('Subject: into the container')), 'the message file is in data_path on the host');
  // Owned by the mail account (5000) that the container and the host share.
  assert.is(statSync(files[0]!).uid, 5000);
});

test('of data_path/secrets the container sees only what its daemons read: a backup key beside them stays the host\'s', () => {
  const secrets = join(root, 'srv/mailserver/secrets');
  writeFileSync(join(secrets, 'mesh-backup.key'), 'not for the daemons\n', { mode: 0o600 });
  const inside = (...argv: string[]) => spawnSync('lxc-attach', ['-n', 'mailserver', '-P', lxcPath, '--clear-env', '--', ...argv], { encoding: 'utf8', cwd: '/' });
  const listed = inside('ls', '-A', '/srv/mailserver/secrets');
  assert.is(listed.status, 0, listed.stderr);
  assert.equal(listed.stdout.split('\n').filter((x) => x !== '').sort(), ['dkim', 'postfix']);
  assert.is.not(inside('cat', '/srv/mailserver/secrets/mesh-backup.key').status, 0, 'the key cannot be read inside');
  assert.ok(existsSync(join(secrets, 'mesh-backup.key')), 'still there on the host');
});

test('install again changes nothing and says so; the container keeps running as it was', () => {
  const pid = initPid();
  const config = statSync(join(containerDir, 'config')).mtimeMs;
  const again = ok(root, ['install', '--rootfs', cachedRootfs()]);
  assert.match(again.stdout, /nothing to do: container 'mailserver' is installed and running/);
  assert.is(initPid(), pid, 'not restarted');
  assert.is(statSync(join(containerDir, 'config')).mtimeMs, config, 'config not rewritten');
});

test('kill -9 of the container init: status says so; tick brings it back; mail queued meanwhile at the sender\'s own Postfix is delivered', async () => {
  // The sending side: a real second Postfix on 127.0.0.2 that queues what it cannot hand over.
  const sender = startSenderMta({ dir: join(root, 'sender-mta'), nexthop: `[${H}]:25` });
  try {
    const pid = initPid();
    assert.ok(pid, 'the container runs');
    process.kill(pid!, 'SIGKILL');
    assert.ok(await eventually(async () => status().container?.state === 'stopped', 30_000, 200), 'status sees the container stopped');
    const down = status();
    assert.is(down.running, false);
    assert.ok(down.services.every((x) => !x.running && /its container stopped/.test(x.problem ?? '')), JSON.stringify(down.services));

    sender.send({ from: 'sender@example.net', to: 'alice@example.com', subject: 'while the container was down', body: 'queued at the sender' });
    assert.ok(await eventually(async () => /to=<alice@example\.com>.*status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:25: Connection refused\)/.test(sender.log()), 60_000, 500), `the sender defers: ${sender.log().slice(-500)}`);
    assert.is(sender.queued(), 1, 'the message waits in the sender\'s queue');

    const tick = await mailctlAsync(root, ['tick']);
    assert.is(tick.code, 0, `tick: ${tick.stderr}${tick.stdout}`);
    assert.match(tick.stdout, /Postfix restarted at \d\d:\d\d after its container stopped/);
    assert.match(tick.stdout, /Dovecot restarted at \d\d:\d\d after its container stopped/);
    const up = status();
    assert.is(up.running, true, JSON.stringify(up.services));
    assert.is.not(initPid(), pid);
    assert.ok(up.restarts.some((r) => r.daemon === 'postfix' && r.ok));

    // The sender retries on its own schedule (seconds here) and hands the message over.
    assert.ok(await waitForSubject('alice@example.com', PW, 'while the container was down', 60_000), `delivered after the restart: ${sender.log().slice(-500)}`);
    assert.match(sender.log(), /to=<alice@example\.com>.*relay=127\.0\.0\.1\[127\.0\.0\.1\]:25.*status=sent/);
    assert.is(sender.queued(), 0);
  } finally {
    sender.stop();
  }
});

test('stop stops the container; a mailbox added meanwhile works after install repairs a container that lost its init', async () => {
  const stopped = JSON.parse(ok(root, ['stop', '--json']).stdout) as Status;
  assert.is(stopped.running, false);
  assert.is(stopped.container?.state, 'stopped');
  assert.is(initPid(), null);
  // The init turned lxc-stop's SIGTERM into a clean stop of each daemon (not a kill with the container).
  assert.match(readFileSync(join(root, 'var/log/mailserver/mail.log'), 'utf8'), /stopping the Postfix mail system/);
  const probe = await runMailClient({ action: 'imap_login', host: H, port: 143, tls: 'starttls', user: 'alice@example.com', password: PW });
  assert.is(probe.ok, false, 'IMAP is gone with the container');
  // Accounts change while the container is down; its next start builds what they need.
  ok(root, ['user', 'add', 'bob@example.com', '--password-stdin'], 'bob-pass-22\n');

  rmSync(join(containerDir, 'rootfs/sbin/mailserver-init'));
  const repair = ok(root, ['install', '--rootfs', cachedRootfs()]);
  assert.match(repair.stdout, /container configuration and init written/);
  assert.match(repair.stdout, /container 'mailserver' started/);
  assert.is(status().running, true);
  assert.ok(await waitForSubject('alice@example.com', PW, 'into the container'), 'the mail is still there');
  const toBob = await runMailClient({ action: 'send', host: H, port: 25, tls: 'starttls', from: 'sender@example.net', to: ['bob@example.com'], subject: 'for bob', body: 'added while stopped' });
  assert.is(toBob.ok, true, JSON.stringify(toBob));
  assert.ok(await waitForSubject('bob@example.com', 'bob-pass-22', 'for bob'), 'a mailbox added while the container was stopped receives mail');
});

/** Processes of the container's pid namespace (the host's /proc, not our status): host pid and program. */
function containerProcesses(): { pid: number; program: string }[] {
  const pid = initPid();
  if (pid === null) return [];
  const ns = (p: string) => { try { return readlinkSync(`/proc/${p}/ns/pid`); } catch { return null; } };
  const exe = (p: string) => { try { return readlinkSync(`/proc/${p}/exe`).split('/').pop()!; } catch { return null; } };
  const theirs = ns(String(pid));
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && ns(p) === theirs).map((p) => ({ pid: Number(p), program: exe(p) })).filter((x): x is { pid: number; program: string } => x.program !== null);
}

const programsInContainer = () => containerProcesses().map((p) => p.program);

/** SIGKILL every process of a program in the container (a crash, the OOM killer). */
function killInContainer(program: string): void {
  for (const p of containerProcesses().filter((x) => x.program === program)) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
  }
}

test('the package default config, unmodified (runtime lxc, spam_filter 1, dkim 1): install succeeds and Rspamd runs inside the container', async () => {
  mkdirSync(join(root, 'etc/config'), { recursive: true });
  writeFileSync(join(root, 'etc/config/mailserver'), readFileSync(join(process.cwd(), 'files/etc/config/mailserver'), 'utf8'));
  // Stopped, so that install starts it with these settings from its init.
  ok(root, ['stop']);
  const install = ok(root, ['install', '--rootfs', cachedRootfs()]);
  assert.match(install.stdout, /container 'mailserver' started/);
  assert.ok(await eventually(async () => status().services.find((x) => x.name === 'rspamd')?.running === true, 60_000, 500), JSON.stringify(status().services));
  assert.equal(status().services.map((x) => x.name), ['dovecot', 'rspamd', 'postfix']);
  const programs = programsInContainer();
  for (const p of ['rspamd', 'master', 'dovecot']) assert.ok(programs.includes(p), `${p} runs in the container's pid namespace (${programs.join(' ')})`);
});

test('spam_filter 1 and dkim 1 in the container: submitted mail carries DKIM signatures (RSA and Ed25519) that verify, the new ones right after a rotation; Rspamd dead: status says mail is held; apply switches to OpenDKIM, then to no milter, while the container runs', async () => {
  try {
    writeConfig(root, { runtime: 'lxc', spamFilter: true, dkim: true });
    signForTestBind(root);
    // On the running container: start converges it to these settings (alice and bob are there from above).
    ok(root, ['start']);
    await waitForPort(H, 587, 30_000);
    ok(root, ['dns-setup']);
    // Mail waits (tempfail) until Rspamd has loaded: its controller, on the container's /run, answers
    // then (/run itself: the container's /var/run is a symlink the host would resolve in its own root).
    const controller = () => join('/proc', String(initPid()), 'root/run/mailserver/rspamd/controller.sock');
    assert.ok(await eventually(async () => (await httpGetUnix(controller(), '/ping'))?.includes('pong') ?? false, 180_000, 500), 'Rspamd in the container answers /ping');
    const sent = await runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW, from: 'alice@example.com', to: ['bob@example.com'], subject: 'signed in the container', body: 'signed body' });
    assert.is(sent.ok, true, JSON.stringify(sent));
    let raw: string | undefined;
    assert.ok(await eventually(async () => {
      const r = await runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user: 'bob@example.com', password: 'bob-pass-22' });
      raw = r.ok ? r.messages.find((m) => m.subject === 'signed in the container')?.raw : undefined;
      return raw !== undefined;
    }, 60_000, 500), 'the signed message arrives');
    const keys = (JSON.parse(ok(root, ['dkim', 'show', 'example.com', '--json']).stdout) as { keys: { selector: string; algorithm: string; state: string }[] }).keys.filter((k) => k.state === 'active');
    assert.equal(
      verifyDkim(raw!).map((x) => `${x.d} ${x.s} ${x.a} ${x.ok}`).sort(),
      keys.map((k) => `example.com ${k.selector} ${k.algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256'} true`).sort(),
    );
    assert.is(keys.length, 2);
    // The keys on the host's data_path belong to the container's _rspamd (its own uid numbering).
    const rspamdUid = Number(readFileSync(join(containerDir, 'rootfs/etc/passwd'), 'utf8').match(/^_rspamd:[^:]*:(\d+):/m)?.[1]);
    assert.is(statSync(join(root, 'srv/mailserver/secrets/dkim/example.com', `${keys[0]!.selector}.pem`)).uid, rspamdUid);


    // A reload of Rspamd inside (new selectors): done only once its old workers are gone, so the
    // very next message is neither deferred nor signed with the old keys.
    const submit = (subject: string) => runMailClient({ action: 'send', host: H, port: 587, tls: 'starttls', user: 'alice@example.com', password: PW, from: 'alice@example.com', to: ['bob@example.com'], subject, body: 'signed body' });
    const arrived = async (subject: string) => {
      let found: string | undefined;
      assert.ok(await eventually(async () => {
        const r = await runMailClient({ action: 'imap_fetch', host: H, port: 143, tls: 'starttls', user: 'bob@example.com', password: 'bob-pass-22' });
        found = r.ok ? r.messages.find((m) => m.subject === subject)?.raw : undefined;
        return found !== undefined;
      }, 60_000, 500), `'${subject}' arrives`);
      return found!;
    };
    const activeSelectors = () => (JSON.parse(ok(root, ['dkim', 'show', 'example.com', '--json']).stdout) as { keys: { selector: string; algorithm: string; state: string }[] }).keys
      .filter((k) => k.state === 'active').map((k) => `example.com ${k.selector} ${k.algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256'} true`).sort();
    const signedBy = (message: string) => verifyDkim(message).map((x) => `${x.d} ${x.s} ${x.a} ${x.ok}`).sort();
    ok(root, ['dkim', 'rotate']);
    assert.not.equal(activeSelectors(), signedBy(raw!), 'rotate made new selectors');
    const afterRotate = await submit('right after the rotation');
    assert.is(afterRotate.ok, true, JSON.stringify(afterRotate));
    assert.equal(signedBy(await arrived('right after the rotation')), activeSelectors(), 'signed with the new selectors');
    assert.is(status().held, null);

    // Rspamd dies inside the container: status says mail is held and why; Postfix defers.
    killInContainer('rspamd');
    assert.ok(await eventually(async () => /^Rspamd is not running/.test(status().held ?? ''), 30_000, 500), `held: ${status().held}`);
    assert.match(ok(root, ['status']).stdout, /held: mail is held .*Rspamd is not running/);
    const deferred = await submit('while rspamd is down');
    assert.is(deferred.ok, false, JSON.stringify(deferred));
    assert.ok(typeof deferred.code === 'number' && deferred.code >= 400 && deferred.code < 500, `a 4xx: ${JSON.stringify(deferred)}`);

    // spam_filter 0, dkim 1 while the container runs: apply stops Rspamd and starts OpenDKIM inside.
    setUci(root, 'features', 'spam_filter', '0');
    ok(root, ['apply']);
    assert.equal(status().services.map((x) => `${x.name} ${x.running}`), ['dovecot true', 'opendkim true', 'postfix true']);
    assert.ok(programsInContainer().includes('opendkim'), 'OpenDKIM runs in the container');
    assert.not.ok(programsInContainer().includes('rspamd'), 'no Rspamd left in the container');
    assert.is(status().held, null);
    const viaOpendkim = await submit('signed by opendkim');
    assert.is(viaOpendkim.ok, true, JSON.stringify(viaOpendkim));
    assert.equal(signedBy(await arrived('signed by opendkim')), activeSelectors());

    // dkim 0 too: no milter is needed, OpenDKIM stops, and mail goes through unsigned.
    setUci(root, 'features', 'dkim', '0');
    ok(root, ['apply']);
    assert.equal(status().services.map((x) => `${x.name} ${x.running}`), ['dovecot true', 'postfix true']);
    assert.not.ok(programsInContainer().includes('opendkim'), 'no OpenDKIM left in the container');
    const unsigned = await submit('no milter');
    assert.is(unsigned.ok, true, JSON.stringify(unsigned));
    assert.equal(signedBy(await arrived('no milter')), []);
    // The container's next start follows the settings too.
    assert.not.match(readFileSync(join(containerDir, 'rootfs/sbin/mailserver-init'), 'utf8'), /opendkim|rspamd/);
  } finally {
    // The veth case changes the container's network: LXC takes it at the next start.
    mailctl(root, ['stop']);
  }
});

test('veth on a bridge with a static address: the container answers on its own address; mail sent there arrives', async () => {
  // The router's LAN bridge, in the test's network namespace. LXC looks bridges up in /sys,
  // which shows the namespace of whoever mounted it: mount this namespace's own (the mount
  // namespace is the test's).
  assert.is(spawnSync('mount', ['-t', 'sysfs', 'sysfs', '/sys']).status, 0, 'mount /sys');
  const ip = (...args: string[]) => assert.is(spawnSync('ip', args, { encoding: 'utf8' }).status, 0, `ip ${args.join(' ')}`);
  ip('link', 'add', 'br-mailtest', 'type', 'bridge');
  ip('addr', 'add', '10.99.0.1/24', 'dev', 'br-mailtest');
  ip('link', 'set', 'br-mailtest', 'up');
  const at = { host: '10.99.0.2', source: '10.99.0.1' };
  try {
    writeConfig(root, { runtime: 'lxc' });
    writeFileSync(join(root, 'etc/config/mailserver'), readFileSync(join(root, 'etc/config/mailserver'), 'utf8').replace("list listen '127.0.0.1'", "list listen '10.99.0.2'"));
    setUci(root, 'lxc', 'network', 'veth');
    setUci(root, 'lxc', 'bridge', 'br-mailtest');
    setUci(root, 'lxc', 'address', '10.99.0.2/24');
    setUci(root, 'lxc', 'gateway', '10.99.0.1');
    ok(root, ['install', '--rootfs', cachedRootfs()]);
    await waitForPort(at.host, 25, 30_000);
    const s = status();
    assert.is(s.running, true, JSON.stringify(s.services));
    assert.is(s.container?.address, '10.99.0.2');
    assert.equal(s.ports.filter((p: { open: boolean }) => !p.open), [], 'every port answers on the container\'s address');
    const sent = await runMailClient({ action: 'send', ...at, port: 25, tls: 'starttls', from: 'sender@example.net', to: ['alice@example.com'], subject: 'over the bridge', body: 'veth', timeout: 60 });
    assert.is(sent.ok, true, JSON.stringify(sent));
    const arrived = await eventually(async () => {
      const r = await runMailClient({ action: 'imap_fetch', ...at, port: 143, tls: 'starttls', user: 'alice@example.com', password: PW, timeout: 60 });
      return r.ok && r.messages.some((m) => m.subject === 'over the bridge');
    }, 60_000, 500);
    assert.ok(arrived, 'read over IMAP with STARTTLS at the container\'s address');
  } finally {
    mailctl(root, ['stop']);
    spawnSync('ip', ['link', 'del', 'br-mailtest']);
  }
});

test('uninstall removes the container and keeps the mail; --purge removes the data too', () => {
  const before = messagesOnHost().length;
  const r = ok(root, ['uninstall']);
  assert.match(r.stdout, /container 'mailserver' removed; data kept/);
  assert.not.ok(existsSync(containerDir), 'container directory gone');
  assert.is(initPid(), null);
  assert.is(messagesOnHost().length, before, 'every message kept');
  assert.is(status().container?.state, 'absent');

  const purge = ok(root, ['uninstall', '--purge']);
  assert.match(purge.stdout, /deleted/);
  assert.not.ok(existsSync(join(root, 'srv/mailserver')), 'data_path removed');
});

test.run();
