// Build the prepared container rootfs once per machine (scripts/setup.sh calls this, outside the
// test network namespace where the Debian mirror answers): debootstrap + the mail packages,
// packed as a compressed tarball with its .sha256 beside it, for `mailctl install --rootfs FILE`.
// The file name carries a key of distribution, release, architecture and package list, so a
// change to any of them builds a new one. Prints the tarball's path.
//
//   node --import tsx scripts/rootfs-cache.ts [--mirror URL]
import { mkdtempSync, rmSync, renameSync, writeFileSync, existsSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from 'node:os';
import { spawnSync } from 'node:child_process';
import { cachedRootfsName, rootfsArch, CACHED_PACKAGES } from '../src-rpc/runtime/lxc-image.ts';
import { debootstrapRootfs, installPackages, ensureMailAccount } from '../src-rpc/runtime/lxc-rootfs.ts';
import { settingsFrom } from '../src-rpc/config/load.ts';
import { parseUci } from '../src-rpc/config/uci.ts';
import { sha256File } from '../src-rpc/sys/crypto.ts';

export const ROOTFS_CACHE_DIR = '/var/cache/secubox-mailserver';
export const TEST_IMAGE = { distribution: 'debian', release: 'bookworm', arch: rootfsArch(machine()) };

export function cachedRootfsPath(): string {
  return join(ROOTFS_CACHE_DIR, cachedRootfsName(TEST_IMAGE));
}

function build(mirror: string): string {
  const out = cachedRootfsPath();
  if (existsSync(out) && existsSync(`${out}.sha256`)) return out;
  mkdirSync(ROOTFS_CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(ROOTFS_CACHE_DIR, 'build-'));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    // The same code as `install` with lxc.rootfs debootstrap (then its packages phase).
    debootstrapRootfs({ ...settingsFrom(parseUci('')).lxc, release: TEST_IMAGE.release, mirror }, TEST_IMAGE.arch, rootfs);
    installPackages(rootfs, TEST_IMAGE.distribution, CACHED_PACKAGES);
    ensureMailAccount(rootfs);
    rmSync(join(rootfs, 'var/lib/apt/lists'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
    const tmp = join(work, 'rootfs.tar.gz');
    const tar = spawnSync('tar', ['--numeric-owner', '-C', rootfs, '-czf', tmp, '.'], { stdio: 'inherit' });
    if (tar.status !== 0) throw new Error(`tar exited ${tar.status}`);
    writeFileSync(`${out}.sha256`, `${sha256File(tmp)}  ${out.split('/').pop()}\n`);
    renameSync(tmp, out);
    // Older keys are of no use any more.
    for (const f of readdirSync(ROOTFS_CACHE_DIR)) {
      if (f.startsWith('rootfs-') && f !== out.split('/').pop() && f !== `${out.split('/').pop()}.sha256`) rmSync(join(ROOTFS_CACHE_DIR, f), { force: true });
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--mirror');
  const mirror = i > 0 ? process.argv[i + 1]! : 'http://deb.debian.org/debian';
  process.stdout.write(build(mirror) + '\n');
}
