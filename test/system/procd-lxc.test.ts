// The package's default configuration (runtime lxc, spam_filter 1, dkim 1) on a router: procd
// (the double in test/support/procd) runs the container as its instance (`lxc-start -F`), and
// mailctl's install, start, stop and tick hand the container to procd rather than starting one
// of their own. Killing the container's init ends the instance and procd starts it again; a
// daemon that died inside is tick's to heal; stop ends the container, and tick then leaves it
// stopped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeSandbox, insideTestNetns, eventually } from '../support/sandbox.ts';
import { ok } from '../support/mailctl.ts';
import { cachedRootfs } from '../support/lxc.ts';
import { procdDouble, descendsFrom, sendAndReceive, routerConfig } from '../support/procd/harness.ts';

const box = makeSandbox('mailserver-procd-lxc-');
const root = box.root;
const procd = procdDouble(root);
const lxcPath = join(root, 'srv/lxc');
const BOB = { user: 'bob@example.com', password: 'bob-pass-procd-lxc' };

interface Status {
  running: boolean;
  services: { name: string; running: boolean; pid: number | null }[];
  restarts: { daemon: string; ok: boolean }[];
}
const status = (): Status => JSON.parse(ok(root, ['status', '--json']).stdout) as Status;

/** The container's init as LXC sees it. */
function initPid(): number | null {
  const r = spawnSync('lxc-info', ['-n', 'mailserver', '-P', lxcPath, '-p', '-H'], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim());
  return r.status === 0 && pid > 0 ? pid : null;
}

/** The container runs as procd's instance: its init is the child of the instance's lxc-start. */
function containerSupervised(): string | null {
  const instance = procd.instances().container;
  if (!instance?.running || !instance.pid) return 'the container is not a running procd instance';
  const init = initPid();
  if (init === null) return 'no container init';
  return descendsFrom(init, instance.pid) ? null : `the container's init ${init} is not below the instance ${instance.pid}`;
}

const send = (subject: string) => sendAndReceive(BOB, subject);

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  routerConfig(root);
  await procd.start();
  ok(root, ['user', 'add', BOB.user, '--password-stdin'], `${BOB.password}\n`);
});

test.after(async () => {
  ok(root, ['stop']);
  await procd.shutdown();
  box.cleanup();
});

test('install under procd: the container is the instance (lxc-start -F), not one of our own; mail sent right after is delivered', async () => {
  const install = ok(root, ['install', '--rootfs', cachedRootfs()]);
  assert.match(install.stdout, /container 'mailserver' started/);
  const instance = procd.instances().container;
  assert.equal(instance?.command, ['lxc-start', '-n', 'mailserver', '-P', lxcPath, '-F']);
  assert.is(instance?.term_timeout, 60);
  assert.is(containerSupervised(), null);
  assert.ok(await eventually(async () => status().running, 120_000, 1000), JSON.stringify(status().services));
  await send('right after install');
});

test('kill -9 of the container init: procd starts the container again and mail flows', async () => {
  const before = initPid()!;
  process.kill(before, 'SIGKILL');
  assert.ok(
    await eventually(async () => containerSupervised() === null && initPid() !== before && status().running, 180_000, 1000),
    `supervised again: ${containerSupervised()}`,
  );
  await send('after kill -9 of the container init');
});

test('a daemon killed inside the container: tick starts it again and says so', async () => {
  const master = status().services.find((s) => s.name === 'postfix')!.pid!;
  process.kill(master, 'SIGKILL');
  assert.ok(await eventually(async () => !status().services.find((s) => s.name === 'postfix')!.running, 30_000, 500));
  const tick = ok(root, ['tick']);
  assert.match(tick.stdout, /Postfix restarted at \d\d:\d\d/);
  assert.is(status().running, true);
  assert.ok(status().restarts.some((r) => r.daemon === 'postfix' && r.ok));
  assert.is(containerSupervised(), null, 'the container is still the same instance');
  await send('after tick healed postfix');
});

test('mailctl stop: the container stops through procd and tick leaves it stopped; mailctl start gives it back to procd', async () => {
  ok(root, ['stop']);
  assert.ok(await eventually(async () => Object.keys(procd.instances()).length === 0 && initPid() === null, 120_000, 500), 'no instance, no container');
  ok(root, ['tick']);
  assert.is(initPid(), null, 'tick started nothing');

  ok(root, ['start']);
  assert.is(containerSupervised(), null);
  await send('after stop and start');
});

test.run();
