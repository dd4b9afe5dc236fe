// Typed view of /etc/config/mailserver. Option names and defaults follow the spec and DESIGN's
// option table; anything not listed here stays in the UCI file untouched.
import type { LxcSettings } from './lxc.ts';

export type Runtime = 'lxc' | 'host';
export type SslType = 'letsencrypt' | 'selfsigned' | 'manual';
export type SslKeyType = 'ec256' | 'ec384' | 'rsa2048' | 'rsa4096';

export interface Ports {
  smtp: number;
  submission: number;
  smtps: number;
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
  sieve: number;
}
export type PortName = keyof Ports;

export interface Settings {
  main: {
    enabled: boolean;
    /** Short host label ("mail") or a fully qualified name. */
    hostname: string;
    /** Primary mail domain. */
    domain: string;
    extraDomains: string[];
    /** Local part (or full address) that receives postmaster@ and abuse@ of every domain. */
    postmaster: string;
    /** Absolute path, as seen by the host (before MAILSERVER_ROOT is applied). */
    dataPath: string;
    container: string;
    runtime: Runtime;
    /** Addresses the daemons bind; empty = all. */
    listen: string[];
    /** Outbound smarthost as `[host]:port` or `host:port`; null = direct delivery. */
    relayhost: string | null;
    /** CA file that vouches for the relayhost's certificate; null = the system CA bundle. */
    relayCaFile: string | null;
    /** Address published in DNS (A); null = ask the WAN interface (ubus). */
    publicIp: string | null;
    /** IPv6 address published in DNS (AAAA); null = the WAN6 interface's, or none. */
    publicIp6: string | null;
    /** Seconds the warm plugin worker stays without calls; 0 = never start it. */
    workerIdle: number;
  };
  ports: Ports;
  features: {
    spamFilter: boolean;
    virusScan: boolean;
    dkim: boolean;
    spf: boolean;
    dmarc: boolean;
    fail2ban: boolean;
    quota: boolean;
    /** Default mailbox quota in bytes; 0 = unlimited. */
    quotaDefault: number;
    /** Rspamd may fetch remote maps and ask rspamd.com's fuzzy servers. */
    spamRemote: boolean;
    /** freshclam's private mirror (`host[:port]` or an http(s) URL); null = ClamAV's official one. */
    virusMirror: string | null;
  };
  ssl: {
    type: SslType;
    certPath: string;
    keyPath: string;
    /** ACME directory URL (https); `production`/`staging` in UCI name Let's Encrypt's. */
    acmeDirectory: string;
    /** ACME account contact. */
    acmeEmail: string;
    /** Key of the certificate (the ACME account key is always ECDSA P-256). */
    keyType: SslKeyType;
    /** Renew when fewer days than this remain. */
    renewDays: number;
    /** More names on the certificate besides the mail host (ssl.extra_name list). */
    extraNames: string[];
  };
  webmail: WebmailSettings;
  autoconfig: AutoconfigSettings;
  mesh: {
    enabled: boolean;
    backupPeers: string[];
    syncInterval: number;
    /** Local backup files kept in data_path/backups (older ones are removed). */
    keep: number;
    /** What encrypts backup files: a generated passphrase, or an age X25519 identity. */
    keyType: 'passphrase' | 'x25519';
  };
  dns: DnsSettings;
  ban: BanSettings;
  lxc: LxcSettings;
}

/** The `ban` section: brute-force bans when features.fail2ban is on. */
export interface BanSettings {
  /** Failed logins from one address within findTime that ban it. */
  maxFailures: number;
  /** Seconds. */
  findTime: number;
  /** Seconds a ban lasts. */
  banTime: number;
  /** Addresses and networks never banned (besides the router's own). */
  allow: string[];
  /** DNS blocklists postscreen asks on port 25 (none by default). */
  dnsbl: string[];
}

/** Roundcube (own container or this host) and where its files are, as the router sees them. */
export interface WebmailSettings {
  enabled: boolean;
  container: string;
  port: number;
  /** Roundcube's config.inc.php (a container's: under its rootfs). */
  configPath: string;
  /** Roundcube's error log (failed logins are written there). */
  logPath: string;
  /** Address the page links to and status probes; null = http://127.0.0.1:<port>/ (link: this router's name). */
  url: string | null;
  /** Shown on Roundcube's login page and in its window title. */
  productName: string;
}

/** Client autoconfig documents served by the router's web server (uhttpd). */
export interface AutoconfigSettings {
  enabled: boolean;
  /** uhttpd's document root. */
  docroot: string;
}

export type DnsProviderKind = 'manual' | 'dnsctl' | 'nsupdate';
export type DkimAlgorithm = 'rsa' | 'ed25519';

/** The `dns` section: how records are published, checked, and what they say. */
export interface DnsSettings {
  provider: DnsProviderKind;
  /** Zones we publish into; empty = every mail domain is its own zone. */
  zones: string[];
  ttl: number;
  /** nsupdate: the primary server, `host` or `host:port`; null = the zone's SOA MNAME. */
  server: string | null;
  /** Resolver for checks (`ip` or `ip:port`); null = the system's. */
  resolver: string | null;
  /** Seconds to wait until a written record is seen by the zone's servers. */
  wait: number;
  spfPolicy: string;
  dmarcPolicy: 'none' | 'quarantine' | 'reject';
  /** DMARC aggregate reports; null = postmaster@<each domain>. */
  dmarcRua: string | null;
  dkimSelector: string;
  dkimAlgorithms: DkimAlgorithm[];
  dkimGraceDays: number;
}

/** Fully qualified name of the mail host. */
export function mailHost(s: Settings): string {
  return s.main.hostname.includes('.') ? s.main.hostname : `${s.main.hostname}.${s.main.domain}`;
}

/** Every mail domain, primary first. */
export function mailDomains(s: Settings): string[] {
  return [s.main.domain, ...s.main.extraDomains.filter((d) => d !== s.main.domain)];
}

/** Address that postmaster@ and abuse@ of every domain deliver to. */
export function postmasterAddress(s: Settings): string {
  return s.main.postmaster.includes('@') ? s.main.postmaster : `${s.main.postmaster}@${s.main.domain}`;
}
