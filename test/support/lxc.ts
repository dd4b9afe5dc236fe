// The lxc runtime in tests: which runtime a file runs on (test/run.mjs runs the files of
// RUNTIME_FILES again with TEST_RUNTIME=lxc) and the prepared rootfs they install the container
// from. scripts/setup.sh builds that rootfs outside the test network namespace; a missing one is
// a failure, never a skip.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cachedRootfsPath } from '../../scripts/rootfs-cache.ts';

export type TestRuntime = 'host' | 'lxc';

export function testRuntime(): TestRuntime {
  return process.env.TEST_RUNTIME === 'lxc' ? 'lxc' : 'host';
}

/** The cached rootfs tarball (with its .sha256) for `mailctl install --rootfs`. */
export function cachedRootfs(): string {
  const file = cachedRootfsPath();
  if (!existsSync(file) || !existsSync(`${file}.sha256`)) {
    throw new Error(`the container rootfs ${file} is missing: run scripts/setup.sh as root (it builds it with debootstrap, outside the test network namespace)`);
  }
  return file;
}

/** Where the daemons see a path of the sandbox (`srv/mailserver/...`): inside the container, at the product's own path. */
export function daemonsPath(root: string, relative: string): string {
  return testRuntime() === 'lxc' ? `/${relative}` : join(root, relative);
}

/** Run one of the daemons' own tools (postfix check, doveconf) where the daemons run. */
export function onDaemonsMachine(root: string, argv: string[]): SpawnSyncReturns<string> {
  const inside = testRuntime() === 'lxc'
    ? ['lxc-attach', '-n', 'mailserver', '-P', join(root, 'srv/lxc'), '--clear-env', '--set-var', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '--', ...argv]
    : argv;
  return spawnSync(inside[0]!, inside.slice(1), { encoding: 'utf8', cwd: '/' });
}
