// What goes into the container's root filesystem, whatever made it (LXC's download template,
// debootstrap, a tarball): the distribution's packages for every daemon the settings may want,
// so switching spam_filter or dkim later needs no download; ClamAV (large: its library and
// daemons) only once virus_scan asks for it. Also the machine's architecture in
// the names Debian and LXC's image server use, and the key of a cached prepared rootfs.
import { machine } from 'node:os';
import { sha256Hex } from '../sys/crypto.ts';
import { MailError } from '../core/errors.ts';
import { MACHINE_ARCHES, ROOTFS_ARCHES, type LxcSettings } from '../config/lxc.ts';

/** Debian (and Ubuntu) package names. */
export const DEBIAN_PACKAGES = [
  'postfix',
  'dovecot-core', 'dovecot-imapd', 'dovecot-pop3d', 'dovecot-lmtpd', 'dovecot-managesieved',
  'rspamd', 'opendkim',
  'libsasl2-modules', 'ca-certificates', 'openssl',
  // udhcpc: a veth container without a static address asks DHCP.
  'busybox',
] as const;

/** Alpine's, for `distribution alpine` with the download template. */
export const ALPINE_PACKAGES = [
  'postfix', 'dovecot', 'dovecot-lmtpd', 'dovecot-pop3d', 'dovecot-pigeonhole-plugin',
  'rspamd', 'rspamd-controller', 'rspamd-proxy', 'opendkim', 'cyrus-sasl', 'ca-certificates', 'openssl',
] as const;

/** ClamAV's daemons (clamd, freshclam, clamav-milter), for features.virus_scan=1. */
export const CLAMAV_PACKAGES = {
  debian: ['clamav-daemon', 'clamav-freshclam', 'clamav-milter'],
  alpine: ['clamav-daemon', 'clamav-milter', 'freshclam'],
} as const;

export function packagesFor(distribution: string, { virusScan }: { virusScan: boolean }): readonly string[] {
  const alpine = distribution === 'alpine';
  return [...(alpine ? ALPINE_PACKAGES : DEBIAN_PACKAGES), ...(virusScan ? CLAMAV_PACKAGES[alpine ? 'alpine' : 'debian'] : [])];
}

export function rootfsArch(machine: string): string {
  const arch = MACHINE_ARCHES[machine];
  if (!arch) throw new MailError('unsupported', `no container rootfs for this machine's architecture '${machine}' (known: ${Object.keys(MACHINE_ARCHES).join(', ')}); set lxc.arch to one of ${ROOTFS_ARCHES.join(', ')}`);
  return arch;
}

export interface ImageSpec {
  distribution: string;
  release: string;
  arch: string;
}

/** Name of a prepared rootfs tarball: changes whenever what goes into it changes. */
/** A prepared rootfs holds every package, ClamAV's too: it serves any settings offline. */
export const CACHED_PACKAGES = { virusScan: true };

export function cachedRootfsName(spec: ImageSpec): string {
  const key = sha256Hex(JSON.stringify([spec.distribution, spec.release, spec.arch, packagesFor(spec.distribution, CACHED_PACKAGES), MAIL_ACCOUNT])).slice(0, 16);
  return `rootfs-${spec.distribution}-${spec.release}-${spec.arch}-${key}.tar.gz`;
}

/** The owner of every mailbox, the same number inside the container as on the host. */
export const MAIL_ACCOUNT = { name: 'vmail', uid: 5000, gid: 5000 } as const;

/** This machine's rootfs architecture. */
export function machineArch(): string {
  return rootfsArch(machine());
}

/**
 * The command that makes a rootfs from the settings' source: debootstrap into `target`, or LXC's
 * download template into the scratch container `scratch` under `lxcPath`.
 */
export function rootfsCommand(lxc: LxcSettings, arch: string, target: { dir: string; lxcPath: string; scratch: string }): string[] {
  if (lxc.rootfs === 'debootstrap') return ['debootstrap', '--variant=minbase', `--arch=${arch}`, lxc.release, target.dir, lxc.mirror];
  return ['lxc-create', '-n', target.scratch, '-P', target.lxcPath, '-t', 'download', '--', '--dist', lxc.distribution, '--release', lxc.release, '--arch', arch];
}
