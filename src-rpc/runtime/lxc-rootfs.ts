// Making a container root filesystem and putting the mail packages in it, from outside the
// container (chroot): used by `install` (debootstrap source, and repairing a rootfs that lacks a
// package) and by scripts/rootfs-cache.ts, which prepares the tarball tests and offline routers use.
import { join } from 'node:path';
import { readText, writeAtomic, removeFile, exists } from '../sys/fs.ts';
import { run } from '../sys/spawn.ts';
import { packagesFor, rootfsCommand, MAIL_ACCOUNT } from './lxc-image.ts';
import { MailError } from '../core/errors.ts';
import type { LxcSettings } from '../config/lxc.ts';

export class RootfsError extends Error {}

function checked(argv: string[], what: string, opts: Parameters<typeof run>[1] = {}): void {
  const r = run(argv, { timeoutMs: 1_200_000, ...opts });
  if (r.code !== 0) throw new RootfsError(`${what} failed (exit ${r.code}): ${tail(r.stderr || r.stdout)}`);
}

export function tail(text: string, lines = 4): string {
  return text.trim().split('\n').slice(-lines).join(' / ');
}

/**
 * Debian or Ubuntu by debootstrap into `into` (an empty directory): the rootfs source
 * `debootstrap` of `install`, and the cached rootfs scripts/setup.sh builds on every machine.
 */
export function debootstrapRootfs(lxc: LxcSettings, arch: string, into: string): void {
  if (lxc.distribution !== 'debian' && lxc.distribution !== 'ubuntu') throw new MailError('invalid_argument', `lxc.rootfs debootstrap makes Debian or Ubuntu, not ${lxc.distribution}`, 'lxc.distribution');
  checked(rootfsCommand({ ...lxc, rootfs: 'debootstrap' }, arch, { dir: into, lxcPath: '', scratch: '' }), `debootstrap ${lxc.release} from ${lxc.mirror}`);
}

/** Packages (of `packagesFor`) that dpkg inside the rootfs does not list as installed. */
export function missingPackages(rootfs: string, distribution: string, features: { virusScan: boolean }): string[] {
  const wanted = packagesFor(distribution, features);
  if (distribution === 'alpine') {
    const world = new Set((readText(join(rootfs, 'etc/apk/world')) ?? '').split('\n'));
    return wanted.filter((p) => !world.has(p));
  }
  const status = readText(join(rootfs, 'var/lib/dpkg/status')) ?? '';
  const installed = new Set(
    status.split('\n\n').flatMap((stanza) => {
      const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
      return name && /^Status: install ok installed$/m.test(stanza) ? [name] : [];
    }),
  );
  return wanted.filter((p) => !installed.has(p));
}

/**
 * Install what is missing with the distribution's package manager, run in the rootfs. Debian's
 * maintainer scripts must not start daemons (policy-rc.d), and Postfix must not configure itself.
 */
export function installPackages(rootfs: string, distribution: string, features: { virusScan: boolean }): string[] {
  const missing = missingPackages(rootfs, distribution, features);
  if (missing.length === 0) return [];
  if (distribution === 'alpine') {
    checked(['chroot', rootfs, 'apk', 'add', '--no-cache', ...missing], 'apk add');
    return missing;
  }
  const policy = join(rootfs, 'usr/sbin/policy-rc.d');
  writeAtomic(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  const env = { DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  try {
    checked(['chroot', rootfs, 'debconf-set-selections'], 'debconf-set-selections', { input: 'postfix postfix/main_mailer_type select No configuration\n', env });
    checked(['chroot', rootfs, 'apt-get', 'update'], 'apt-get update', { env });
    checked(['chroot', rootfs, 'apt-get', 'install', '-y', '--no-install-recommends', ...missing], 'apt-get install', { env });
    checked(['chroot', rootfs, 'apt-get', 'clean'], 'apt-get clean', { env });
  } finally {
    removeFile(policy);
  }
  return missing;
}

/** The mail account (uid/gid 5000) in the rootfs's passwd and group, as on the host. */
export function ensureMailAccount(rootfs: string): boolean {
  const { name, uid, gid } = MAIL_ACCOUNT;
  let changed = false;
  const add = (file: string, line: string, id: number) => {
    const path = join(rootfs, file);
    const text = readText(path) ?? '';
    if (text.split('\n').some((l) => l.split(':')[2] === String(id) || l.startsWith(`${name}:`))) return;
    writeAtomic(path, text + (text.endsWith('\n') || text === '' ? '' : '\n') + line + '\n', { mode: 0o644 });
    changed = true;
  };
  add('etc/group', `${name}:x:${gid}:`, gid);
  add('etc/passwd', `${name}:x:${uid}:${gid}:mail:/nonexistent:/usr/sbin/nologin`, uid);
  return changed;
}

/** A rootfs is there when it has a shell and an os-release. */
export function rootfsPresent(rootfs: string): boolean {
  return exists(join(rootfs, 'bin/sh')) && exists(join(rootfs, 'etc/os-release'));
}
