// Typed view of /etc/config/mailserver. Option names and defaults follow the spec and DESIGN's
// option table; anything not listed here stays in the UCI file untouched.

export type Runtime = 'lxc' | 'host';
export type SslType = 'letsencrypt' | 'selfsigned' | 'manual';

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
  };
  ssl: {
    type: SslType;
    certPath: string;
    keyPath: string;
  };
  webmail: { enabled: boolean; container: string; port: number };
  mesh: { enabled: boolean; backupPeers: string[]; syncInterval: number };
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
