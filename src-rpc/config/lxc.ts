// The `lxc` section: where and from what the container is made, its network and limits.
// Validated here like every other option, so `install` never starts on a setting it would
// trip over half-way.
import * as v from './validate.ts';

export type LxcNetwork = 'host' | 'veth';
export type RootfsSource = 'download' | 'debootstrap';

export interface LxcSettings {
  /** lxc.lxcpath: containers live in <path>/<name>/ (OpenWrt's default /srv/lxc). */
  path: string;
  /** Bytes; null = no limit. */
  memoryLimit: number | null;
  /** `host`: the router's network namespace; `veth`: an interface on `bridge`. */
  network: LxcNetwork;
  bridge: string;
  /** veth: `a.b.c.d/nn`, or null for DHCP. */
  address: string | null;
  /** veth with a static address: the default route; null = none. */
  gateway: string | null;
  rootfs: RootfsSource;
  distribution: string;
  release: string;
  /** null = this machine's (uname -m mapped to Debian/LXC names). */
  arch: string | null;
  /** debootstrap's Debian mirror. */
  mirror: string;
  autostart: boolean;
}

/** `uname -m` → the architecture names of Debian and of LXC's image server (they agree). */
export const MACHINE_ARCHES: Record<string, string> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  armv7l: 'armhf',
  armv8l: 'armhf',
  i686: 'i386',
  i386: 'i386',
  riscv64: 'riscv64',
  ppc64le: 'ppc64el',
  s390x: 's390x',
};

export const ROOTFS_ARCHES = [...new Set(Object.values(MACHINE_ARCHES))];

type Read = <T>(section: string, option: string, fallback: string, parse: (field: string, value: string) => T) => T;

export function readLxc(read: Read): LxcSettings {
  return {
    path: read('lxc', 'path', '/srv/lxc', v.absolutePath),
    memoryLimit: read('lxc', 'memory_limit', '', (f, x) => (x === '' ? null : memoryLimit(f, x) || null)),
    network: read('lxc', 'network', 'host', (f, x) => v.oneOf(f, x, ['host', 'veth'] as const)),
    bridge: read('lxc', 'bridge', 'br-lan', interfaceName),
    address: read('lxc', 'address', 'dhcp', (f, x) => (x === 'dhcp' ? null : ipv4WithPrefix(f, x))),
    gateway: read('lxc', 'gateway', '', (f, x) => (x === '' ? null : ipv4(f, x))),
    rootfs: read('lxc', 'rootfs', 'download', (f, x) => v.oneOf(f, x, ['download', 'debootstrap'] as const)),
    distribution: read('lxc', 'distribution', 'debian', (f, x) => v.oneOf(f, x, ['debian', 'ubuntu', 'alpine'] as const)),
    release: read('lxc', 'release', 'bookworm', release),
    arch: read('lxc', 'arch', '', (f, x) => (x === '' ? null : v.oneOf(f, x, ROOTFS_ARCHES))),
    mirror: read('lxc', 'mirror', 'http://deb.debian.org/debian', mirror),
    autostart: read('lxc', 'autostart', '1', v.boolean),
  };
}

/** Less than this and Postfix plus Dovecot do not even start. */
const MIN_MEMORY = 64 * 1024 * 1024;

function memoryLimit(field: string, value: string): number {
  const bytes = v.size(field, value);
  if (bytes !== 0 && bytes < MIN_MEMORY) throw new v.ValidationError(field, `${value} is too little for the mail daemons: at least 64M (or empty for no limit)`);
  return bytes;
}

function interfaceName(field: string, value: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value)) throw new v.ValidationError(field, 'must be a network interface name (1-15 letters, digits, . _ -)');
  return value;
}

function ipv4(field: string, value: string): string {
  const a = v.ipAddress(field, value);
  if (a.includes(':')) throw new v.ValidationError(field, `${value}: an IPv4 address is expected here`);
  return a;
}

function ipv4WithPrefix(field: string, value: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 32) throw new v.ValidationError(field, `'${value}' must be 'dhcp' or an IPv4 address with its prefix length, e.g. 192.168.1.25/24`);
  return `${ipv4(field, m[1]!)}/${Number(m[2])}`;
}

function release(field: string, value: string): string {
  if (!/^[a-z0-9][a-z0-9.]{0,31}$/.test(value)) throw new v.ValidationError(field, 'must be a release name or number, e.g. bookworm or 3.20');
  return value;
}

function mirror(field: string, value: string): string {
  return v.httpUrl(field, value, 'must be an http:// or https:// URL of a Debian mirror').replace(/\/+$/, '');
}
