// The container as text: LXC's configuration file and the container's init (PID 1). Pure, like
// every renderer: the runtime decides paths, the cgroup version and what the daemons need.
import { GENERATED } from './text.ts';
import type { LxcSettings } from '../config/lxc.ts';

/** A host directory and where the container sees it (absolute). */
export interface BindMount {
  host: string;
  container: string;
}

export interface ContainerSpec {
  name: string;
  /** Host path of the container's root filesystem. */
  rootfs: string;
  mounts: BindMount[];
  /** 1 or 2: which cgroup the router mounts (memory limits are spelled differently). */
  cgroupVersion: 1 | 2;
  /** Host path of LXC's own log of this container. */
  logFile: string;
}

/** Where our init lives inside the container. */
export const CONTAINER_INIT = '/sbin/mailserver-init';
/** Made by the init once it has started the daemons (on the container's /run tmpfs). */
export const INIT_READY = '/run/mailserver-init.ready';

export function renderLxcConfig(lxc: LxcSettings, c: ContainerSpec): string {
  const lines = [
    GENERATED,
    `lxc.uts.name = ${c.name}`,
    `lxc.rootfs.path = dir:${c.rootfs}`,
    `lxc.init.cmd = ${CONTAINER_INIT}`,
    // Our init stops the daemons cleanly on SIGTERM (lxc-stop's default would be SIGPWR).
    'lxc.signal.halt = SIGTERM',
    // Keep the container inside the cgroup of whoever starts it (procd's service, a test).
    'lxc.cgroup.relative = 1',
    'lxc.mount.auto = proc:mixed sys:ro cgroup:mixed',
    'lxc.autodev = 1',
    'lxc.tty.max = 0',
    'lxc.pty.max = 8',
    'lxc.cap.drop = sys_module mac_admin mac_override sys_time sys_rawio',
    `lxc.start.auto = ${lxc.autostart ? 1 : 0}`,
    `lxc.log.file = ${c.logFile}`,
    'lxc.log.level = WARN',
    // pid files and sockets start afresh with each start (a kill -9 leaves none behind).
    'lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=0755 0 0',
    ...c.mounts.map((m) => `lxc.mount.entry = ${m.host} ${m.container.replace(/^\/+/, '')} none bind,create=dir 0 0`),
    ...network(lxc),
  ];
  if (lxc.memoryLimit !== null) {
    lines.push(c.cgroupVersion === 2 ? `lxc.cgroup2.memory.max = ${lxc.memoryLimit}` : `lxc.cgroup.memory.limit_in_bytes = ${lxc.memoryLimit}`);
  }
  return lines.join('\n') + '\n';
}

function network(lxc: LxcSettings): string[] {
  // `none`: the container shares the network namespace of whoever starts it.
  if (lxc.network === 'host') return ['lxc.net.0.type = none'];
  return [
    'lxc.net.0.type = veth',
    `lxc.net.0.link = ${lxc.bridge}`,
    'lxc.net.0.name = eth0',
    // Without it the interface stays down and Postfix exits without a word.
    'lxc.net.0.flags = up',
    ...(lxc.address ? [`lxc.net.0.ipv4.address = ${lxc.address}`] : []),
    ...(lxc.address && lxc.gateway ? [`lxc.net.0.ipv4.gateway = ${lxc.gateway}`] : []),
  ];
}

export type ContainerDaemon = 'dovecot' | 'postfix' | 'rspamd' | 'opendkim' | 'clamd' | 'clamav-milter' | 'freshclam';

export interface InitSpec {
  /** Started in this order (each only once `needs`, its configuration, exists), stopped in the reverse. */
  daemons: { name: ContainerDaemon; start: string[]; stop: string[]; needs?: string }[];
  /** Directories the daemons need under the tmpfs /run: [path, mode, owner]. */
  runDirs: [string, string, string][];
  /** veth without a static address: ask DHCP for one first. */
  dhcp: boolean;
}

/** A word the shell takes literally. */
function sh(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
const command = (argv: string[]) => argv.map(sh).join(' ');

/**
 * PID 1 of the container, a POSIX shell script (Debian's dash, Alpine's busybox): starts the
 * daemons, reaps the orphans every daemon leaves to PID 1, and turns SIGTERM (lxc-stop, procd)
 * into a clean stop. It exits when stopped, which ends the container.
 */
export function renderContainerInit(spec: InitSpec): string {
  const starts = spec.daemons.map((d) => `\t${d.needs ? `[ ! -e ${sh(d.needs)} ] || ` : ''}${command(d.start)} || echo "mailserver-init: ${d.name} did not start" >&2`);
  const stops = [...spec.daemons].reverse().map((d) => `\t${command(d.stop)} >/dev/null 2>&1`);
  return [
    '#!/bin/sh',
    GENERATED,
    'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    'export PATH',
    'stopping=',
    '',
    'start() {',
    ...spec.runDirs.map(([dir, mode, owner]) => `\tmkdir -p ${sh(dir)} && chmod ${mode} ${sh(dir)} && chown ${owner} ${sh(dir)}`),
    ...(spec.dhcp ? ['\tif command -v udhcpc >/dev/null; then udhcpc -b -i eth0 -S; elif command -v busybox >/dev/null; then busybox udhcpc -b -i eth0 -S; else dhclient -4 eth0; fi'] : []),
    ...starts,
    `\t: >${INIT_READY}`,
    '}',
    '',
    'stop() {',
    ...stops,
    '\texit 0',
    '}',
    '',
    "trap 'stopping=1' TERM INT PWR",
    'start',
    // `wait` returns when a signal arrives and, while it waits, reaps every child, ours or orphaned.
    'while [ -z "$stopping" ]; do',
    '\tsleep 3600 &',
    '\twait',
    'done',
    'kill $! 2>/dev/null',
    'stop',
    '',
  ].join('\n');
}
