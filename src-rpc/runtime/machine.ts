// Where the daemons' own tools run: on the host, or inside the container (lxc-attach). Paths
// handed to those tools are the daemons' view of them; group ids are those of the machine the
// daemons run on (a container's Debian numbers its system users its own way).
import { run, type RunOptions, type RunResult } from '../sys/spawn.ts';
import { systemGroupId } from '../sys/accounts.ts';
import { attach, containerPath, containerRunning } from './lxc.ts';
import { layoutFor } from '../core/layout.ts';
import type { Settings } from '../config/settings.ts';

export interface Machine {
  kind: 'host' | 'container';
  run(argv: string[], opts?: RunOptions): RunResult;
  /** A host path as the daemons' tools see it. */
  path(hostPath: string): string;
  groupId(name: string): number | null;
  /** The root filesystem the daemons' users and groups are in. */
  root: string;
  /** Whether commands can run there now (a stopped container runs none). */
  available(): boolean;
}

export const hostMachine: Machine = {
  kind: 'host',
  run: (argv, opts) => run(argv, opts),
  path: (p) => p,
  groupId: systemGroupId,
  root: '/',
  available: () => true,
};

export function containerMachine(s: Settings): Machine {
  return {
    kind: 'container',
    run: (argv, opts) => attach(s, argv, opts),
    path: containerPath,
    groupId: (name) => systemGroupId(name, layoutFor(s).daemonsRoot),
    root: layoutFor(s).daemonsRoot,
    available: () => containerRunning(s),
  };
}

export function machineFor(s: Settings): Machine {
  return s.main.runtime === 'lxc' ? containerMachine(s) : hostMachine;
}
