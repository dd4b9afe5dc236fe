// The lxc runtime's pure parts: the lxc UCI section validated at the door, the machine's
// architecture in Debian's names (an unknown one refused by name), LXC's config for each network
// mode and cgroup version, and the container's init.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseUci, setOption } from '../../src-rpc/config/uci.ts';
import { settingsFrom } from '../../src-rpc/config/load.ts';
import { rootfsArch, cachedRootfsName, rootfsCommand, DEBIAN_PACKAGES, CLAMAV_PACKAGES } from '../../src-rpc/runtime/lxc-image.ts';
import { missingPackages } from '../../src-rpc/runtime/lxc-rootfs.ts';
import { renderLxcConfig, renderContainerInit } from '../../src-rpc/render/lxc.ts';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { LxcSettings } from '../../src-rpc/config/lxc.ts';

function lxc(options: Record<string, string> = {}): LxcSettings {
  const uci = parseUci("config lxc 'lxc'\n");
  for (const [k, v] of Object.entries(options)) setOption(uci, 'lxc', k, v);
  return settingsFrom(uci).lxc;
}

const spec = { name: 'mailserver', rootfs: '/srv/lxc/mailserver/rootfs', mounts: [{ host: '/srv/mailserver/mail', container: '/srv/mailserver/mail' }], cgroupVersion: 2 as const, logFile: '/srv/lxc/mailserver/lxc.log' };

test('defaults: OpenWrt\'s /srv/lxc, the router\'s network, Debian bookworm from the download template, no memory limit', () => {
  assert.equal(lxc(), {
    path: '/srv/lxc', memoryLimit: null, network: 'host', bridge: 'br-lan', address: null, gateway: null, rootfs: 'download',
    distribution: 'debian', release: 'bookworm', arch: null, mirror: 'http://deb.debian.org/debian', autostart: true,
  });
});

test('bad lxc options are refused by their UCI name before anything runs', () => {
  const refused = (options: Record<string, string>, field: string) =>
    assert.throws(() => lxc(options), (e: Error & { field?: string }) => e.field === field && e.message.includes(`mailserver.${field}`), JSON.stringify(options));
  refused({ path: 'srv/lxc' }, 'lxc.path');
  refused({ memory_limit: '16M' }, 'lxc.memory_limit');
  refused({ network: 'macvlan' }, 'lxc.network');
  refused({ bridge: 'br lan; reboot' }, 'lxc.bridge');
  refused({ address: '192.168.1.300/24' }, 'lxc.address');
  refused({ address: '192.168.1.25' }, 'lxc.address');
  refused({ gateway: '2001:db8::1' }, 'lxc.gateway');
  refused({ rootfs: 'tarball' }, 'lxc.rootfs');
  refused({ distribution: 'gentoo' }, 'lxc.distribution');
  refused({ release: 'Bookworm!' }, 'lxc.release');
  refused({ arch: 'mips' }, 'lxc.arch');
  refused({ mirror: 'ftp://deb.debian.org/debian' }, 'lxc.mirror');
  refused({ mirror: 'http://user:pw@deb.debian.org/debian' }, 'lxc.mirror');
  refused({ autostart: 'maybe' }, 'lxc.autostart');
  assert.is(lxc({ memory_limit: '512M' }).memoryLimit, 512 * 1024 * 1024);
  assert.is(lxc({ address: '192.168.1.25/24' }).address, '192.168.1.25/24');
});

test('the machine\'s architecture in Debian\'s names; an unknown one is a clear error naming it', () => {
  assert.is(rootfsArch('x86_64'), 'amd64');
  assert.is(rootfsArch('aarch64'), 'arm64');
  assert.is(rootfsArch('armv7l'), 'armhf');
  assert.throws(() => rootfsArch('mips'), /architecture 'mips'.*set lxc\.arch/);
});

test('the cached rootfs name changes with distribution, release and architecture', () => {
  const a = cachedRootfsName({ distribution: 'debian', release: 'bookworm', arch: 'amd64' });
  assert.match(a, /^rootfs-debian-bookworm-amd64-[0-9a-f]{16}\.tar\.gz$/);
  assert.is.not(cachedRootfsName({ distribution: 'debian', release: 'trixie', arch: 'amd64' }).slice(-23), a.slice(-23));
  assert.is.not(cachedRootfsName({ distribution: 'debian', release: 'bookworm', arch: 'arm64' }).slice(-23), a.slice(-23));
});

test('ClamAV is installed in the container only with virus_scan=1: a rootfs with the mail packages lacks nothing without it', () => {
  const rootfs = mkdtempSync(join(tmpdir(), 'mailserver-rootfs-'));
  try {
    mkdirSync(join(rootfs, 'var/lib/dpkg'), { recursive: true });
    const stanza = (name: string) => `Package: ${name}\nStatus: install ok installed\nVersion: 1\n`;
    writeFileSync(join(rootfs, 'var/lib/dpkg/status'), DEBIAN_PACKAGES.map(stanza).join('\n'));
    assert.equal(missingPackages(rootfs, 'debian', { virusScan: false }), []);
    assert.equal(missingPackages(rootfs, 'debian', { virusScan: true }), [...CLAMAV_PACKAGES.debian]);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
});

test('rootfs commands: debootstrap from the mirror for the architecture, or the download template', () => {
  const target = { dir: '/srv/lxc/m/rootfs.partial', lxcPath: '/srv/lxc', scratch: 'm.download' };
  assert.equal(rootfsCommand(lxc({ rootfs: 'debootstrap', mirror: 'http://ftp.fr.debian.org/debian/' }), 'arm64', target), ['debootstrap', '--variant=minbase', '--arch=arm64', 'bookworm', target.dir, 'http://ftp.fr.debian.org/debian']);
  assert.equal(rootfsCommand(lxc({ distribution: 'alpine', release: '3.20' }), 'armhf', target), ['lxc-create', '-n', 'm.download', '-P', '/srv/lxc', '-t', 'download', '--', '--dist', 'alpine', '--release', '3.20', '--arch', 'armhf']);
});

test('LXC config: host network shares the namespace; veth is up on the bridge with a static address or DHCP; memory limit per cgroup version', () => {
  const host = renderLxcConfig(lxc(), spec);
  assert.match(host, /^lxc\.net\.0\.type = none$/m);
  assert.match(host, /^lxc\.cgroup\.relative = 1$/m);
  assert.match(host, /^lxc\.init\.cmd = \/sbin\/mailserver-init$/m);
  assert.match(host, /^lxc\.mount\.entry = \/srv\/mailserver\/mail srv\/mailserver\/mail none bind,create=dir 0 0$/m);
  assert.not.match(host, /memory/);
  const veth = renderLxcConfig(lxc({ network: 'veth', bridge: 'br-mail', address: '192.168.1.25/24', gateway: '192.168.1.1', memory_limit: '256M', autostart: '0' }), { ...spec, cgroupVersion: 1 });
  for (const line of ['lxc.net.0.type = veth', 'lxc.net.0.link = br-mail', 'lxc.net.0.flags = up', 'lxc.net.0.ipv4.address = 192.168.1.25/24', 'lxc.net.0.ipv4.gateway = 192.168.1.1', 'lxc.cgroup.memory.limit_in_bytes = 268435456', 'lxc.start.auto = 0']) {
    assert.ok(veth.split('\n').includes(line), line);
  }
  assert.ok(renderLxcConfig(lxc({ memory_limit: '256M' }), spec).includes('lxc.cgroup2.memory.max = 268435456\n'));
  assert.not.match(renderLxcConfig(lxc({ network: 'veth' }), spec), /ipv4/);
});

test('the init starts the daemons in order, stops them in reverse on SIGTERM, quotes every word, asks DHCP only when told', () => {
  const init = renderContainerInit({
    daemons: [
      { name: 'dovecot', start: ['dovecot', '-c', "/srv/mail server/it's.conf"], stop: ['dovecot', 'stop'] },
      { name: 'postfix', start: ['postfix', 'start'], stop: ['postfix', 'stop'] },
    ],
    runDirs: [['/var/run/mailserver/dovecot', '0755', 'root:root']],
    dhcp: false,
  });
  assert.ok(init.startsWith('#!/bin/sh\n'));
  assert.ok(init.includes(`dovecot -c '/srv/mail server/it'\\''s.conf'`));
  assert.ok(init.indexOf('dovecot -c') < init.indexOf('postfix start'));
  assert.ok(init.indexOf('postfix stop') < init.indexOf('dovecot stop'));
  assert.match(init, /trap 'stopping=1' TERM/);
  assert.not.match(init, /udhcpc/);
  assert.match(renderContainerInit({ daemons: [], runDirs: [], dhcp: true }), /udhcpc -b -i eth0/);
});

test('the init starts a daemon that needs its configuration only once the file exists (a first start has none before apply)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-init-'));
  try {
    const config = join(dir, 'rspamd');
    const started = join(dir, 'started');
    const init = renderContainerInit({ daemons: [{ name: 'rspamd', start: ['touch', started], stop: ['true'], needs: config }], runDirs: [], dhcp: false });
    const line = init.split('\n').find((l) => l.includes('touch'))!;
    assert.is(spawnSync('sh', ['-c', line]).status, 0);
    assert.not.ok(existsSync(started), 'not started without its configuration');
    writeFileSync(config, '');
    assert.is(spawnSync('sh', ['-c', line]).status, 0);
    assert.ok(existsSync(started), 'started once its configuration exists');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
