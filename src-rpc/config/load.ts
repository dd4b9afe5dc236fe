// /etc/config/mailserver → typed, validated Settings. A missing option takes the spec's
// default; a bad one is reported with its UCI name so the owner knows what to fix.
import { parseUci, getOption, UciSyntaxError, type UciPackage } from './uci.ts';
import * as v from './validate.ts';
import { MailError } from '../core/errors.ts';
import { dkimSelector, dkimAlgorithms, spfPolicy, publicAddress, serverAddress } from '../dns/validate.ts';
import { readLxc } from './lxc.ts';
import { memoized } from '../sys/run-memo.ts';
import type { Settings, Ports, PortName } from './settings.ts';

export const PORT_DEFAULTS: Ports = {
  smtp: 25,
  submission: 587,
  smtps: 465,
  imap: 143,
  imaps: 993,
  pop3: 110,
  pop3s: 995,
  sieve: 4190,
};

/** The UCI tree of the file's text, fresh at each call: callers edit it in place before committing it. */
export function uciOf(text: string | null): UciPackage {
  try {
    return parseUci(text ?? '');
  } catch (e) {
    if (e instanceof UciSyntaxError) throw new MailError('invalid_argument', `/etc/config/mailserver line ${e.line}: ${e.message}`);
    throw e;
  }
}

declare const MAILSERVER_CODE_ID: string | undefined;

/**
 * The settings of the file's text, validated; a bad file throws. Validating is most of loading
 * them (~2.5 ms of a cold call: a hundred options through their checks, each check's first run in
 * V8's interpreter), and the same text gives the same settings: a process keeps the last ones
 * (the worker loads the file at every call), and the bundle (whose build names its source in
 * MAILSERVER_CODE_ID) also leaves them for the next process (sys/run-memo.ts), keyed by that
 * name and the whole text. Kept frozen: every caller shares them.
 */
export function settingsOfFile(text: string | null): Settings {
  const t = text ?? '';
  if (last?.text !== t) {
    const validate = () => settingsFrom(uciOf(t));
    const settings = typeof MAILSERVER_CODE_ID === 'undefined' ? validate() : memoized('settings', `${MAILSERVER_CODE_ID}\n${t}`, validate);
    last = { text: t, settings: deepFreeze(settings) };
  }
  return last.settings;
}

let last: { text: string; settings: Settings } | undefined;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export function settingsFrom(uci: UciPackage): Settings {
  const read = <T>(section: string, option: string, fallback: string, parse: (field: string, value: string) => T): T => {
    const raw = getOption(uci, section, option);
    const value = Array.isArray(raw) ? raw.join(' ') : raw ?? fallback;
    try {
      return parse(`${section}.${option}`, value);
    } catch (e) {
      if (e instanceof v.ValidationError) throw new MailError('invalid_argument', `mailserver.${e.field}: ${e.message}`, e.field);
      throw e;
    }
  };
  const list = (section: string, option: string): string[] => {
    const raw = getOption(uci, section, option);
    if (raw === undefined) return [];
    return (Array.isArray(raw) ? raw : [raw]).flatMap((x) => x.split(/\s+/)).filter((x) => x !== '');
  };
  const flag = (section: string, option: string, fallback: '0' | '1') => read(section, option, fallback, v.boolean);

  const ports = {} as Ports;
  for (const name of Object.keys(PORT_DEFAULTS) as PortName[]) ports[name] = read('ports', name, String(PORT_DEFAULTS[name]), v.port);
  assertDistinctPorts(ports);

  const domain = read('main', 'domain', 'example.com', v.domainName);
  const dataPath = read('main', 'data_path', '/srv/mailserver', v.absolutePath);
  const listen = list('main', 'listen').map((a, i) => fieldError(`main.listen`, () => v.ipAddress(`main.listen[${i}]`, a)));
  return {
    main: {
      enabled: flag('main', 'enabled', '0'),
      hostname: read('main', 'hostname', 'mail', v.hostLabelOrFqdn),
      domain,
      extraDomains: [...new Set(list('main', 'extra_domain').map((d) => fieldError('main.extra_domain', () => v.domainName('main.extra_domain', d))))],
      postmaster: read('main', 'postmaster', 'postmaster', (f, x) => (x.includes('@') ? v.emailAddress(f, x) : v.localPart(f, x))),
      dataPath,
      container: read('main', 'container', 'mailserver', containerName),
      runtime: read('main', 'runtime', 'lxc', (f, x) => v.oneOf(f, x, ['lxc', 'host'] as const)),
      listen,
      relayhost: read('main', 'relayhost', '', (f, x) => (x === '' ? null : v.relayHost(f, x))),
      relayCaFile: read('main', 'relay_ca_file', '', (f, x) => (x === '' ? null : v.absolutePath(f, x))),
      publicIp: read('main', 'public_ip', '', (f, x) => (x === '' ? null : publicAddress(f, x, 4))),
      publicIp6: read('main', 'public_ip6', '', (f, x) => (x === '' ? null : publicAddress(f, x, 6))),
      workerIdle: read('main', 'worker_idle', '120', (f, x) => v.integer(f, x, 0, 86400)),
    },
    ports,
    features: {
      spamFilter: flag('features', 'spam_filter', '1'),
      virusScan: flag('features', 'virus_scan', '0'),
      dkim: flag('features', 'dkim', '1'),
      spf: flag('features', 'spf', '1'),
      dmarc: flag('features', 'dmarc', '1'),
      fail2ban: flag('features', 'fail2ban', '1'),
      quota: flag('features', 'quota', '1'),
      quotaDefault: read('features', 'quota_default', '0', v.size),
      spamRemote: flag('features', 'spam_remote', '1'),
      virusMirror: read('features', 'virus_mirror', '', (f, x) => (x === '' ? null : virusMirror(f, x))),
    },
    ssl: {
      type: read('ssl', 'type', 'letsencrypt', (f, x) => v.oneOf(f, x, ['letsencrypt', 'selfsigned', 'manual'] as const)),
      certPath: read('ssl', 'cert_path', `${dataPath}/ssl/fullchain.pem`, v.absolutePath),
      keyPath: read('ssl', 'key_path', `${dataPath}/ssl/privkey.pem`, v.absolutePath),
      acmeDirectory: read('ssl', 'acme_directory', 'production', acmeDirectory),
      acmeEmail: read('ssl', 'acme_email', `postmaster@${domain}`, v.emailAddress),
      keyType: read('ssl', 'key_type', 'ec256', (f, x) => v.oneOf(f, x, ['ec256', 'ec384', 'rsa2048', 'rsa4096'] as const)),
      renewDays: read('ssl', 'renew_days', '30', (f, x) => v.integer(f, x, 1, 89)),
      extraNames: [...new Set(list('ssl', 'extra_name').map((d) => fieldError('ssl.extra_name', () => v.domainName('ssl.extra_name', d))))],
    },
    webmail: {
      enabled: flag('webmail', 'enabled', '1'),
      container: read('webmail', 'container', 'secubox-webmail', containerName),
      port: read('webmail', 'port', '8026', v.port),
      configPath: read('webmail', 'config_path', '/etc/roundcube/config.inc.php', v.absolutePath),
      logPath: read('webmail', 'log_path', '/var/log/roundcube/errors.log', v.absolutePath),
      url: read('webmail', 'url', '', (f, x) => (x === '' ? null : webUrl(f, x))),
      productName: read('webmail', 'product_name', 'SecuBox Webmail', displayName),
    },
    autoconfig: {
      enabled: flag('autoconfig', 'enabled', '1'),
      docroot: read('autoconfig', 'docroot', '/www', v.absolutePath),
    },
    mesh: {
      enabled: flag('mesh', 'enabled', '0'),
      backupPeers: meshPeers(uci),
      syncInterval: read('mesh', 'sync_interval', '3600', (f, x) => v.integer(f, x, 60, 7 * 86400)),
      keep: read('mesh', 'keep', '7', (f, x) => v.integer(f, x, 1, 365)),
      keyType: read('mesh', 'key_type', 'passphrase', (f, x) => v.oneOf(f, x, ['passphrase', 'x25519'] as const)),
    },
    ban: {
      maxFailures: read('ban', 'max_failures', '10', (f, x) => v.integer(f, x, 1, 1000)),
      findTime: read('ban', 'find_time', '600', (f, x) => v.integer(f, x, 10, 86400)),
      banTime: read('ban', 'ban_time', '3600', (f, x) => v.integer(f, x, 1, 30 * 86400)),
      allow: [...new Set(list('ban', 'allow').map((a) => fieldError('ban.allow', () => v.ipNetwork('ban.allow', a))))],
      dnsbl: [...new Set(list('ban', 'dnsbl').map((d) => fieldError('ban.dnsbl', () => v.domainName('ban.dnsbl', d))))],
    },
    dns: {
      provider: read('dns', 'provider', 'manual', (f, x) => v.oneOf(f, x, ['manual', 'dnsctl', 'nsupdate'] as const)),
      zones: [...new Set(list('dns', 'zone').map((z) => fieldError('dns.zone', () => v.domainName('dns.zone', z))))],
      ttl: read('dns', 'ttl', '3600', (f, x) => v.integer(f, x, 60, 604800)),
      server: read('dns', 'server', '', (f, x) => (x === '' ? null : serverAddress(f, x, true))),
      resolver: read('dns', 'resolver', '', (f, x) => (x === '' ? null : serverAddress(f, x, false))),
      wait: read('dns', 'wait', '120', (f, x) => v.integer(f, x, 1, 3600)),
      spfPolicy: read('dns', 'spf_policy', '~all', spfPolicy),
      dmarcPolicy: read('dns', 'dmarc_policy', 'none', (f, x) => v.oneOf(f, x, ['none', 'quarantine', 'reject'] as const)),
      dmarcRua: read('dns', 'dmarc_rua', '', (f, x) => (x === '' ? null : v.emailAddress(f, x))),
      dkimSelector: read('dns', 'dkim_selector', 'mail', dkimSelector),
      dkimAlgorithms: read('dns', 'dkim_algorithms', 'rsa', dkimAlgorithms),
      dkimGraceDays: read('dns', 'dkim_grace_days', '7', (f, x) => v.integer(f, x, 0, 365)),
    },
    lxc: readLxc(read),
  };
}

/** Let's Encrypt's directories by name; any other CA by its https URL. */
export const ACME_DIRECTORIES = {
  production: 'https://acme-v02.api.letsencrypt.org/directory',
  staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

function acmeDirectory(field: string, value: string): string {
  if (value === 'production' || value === 'staging') return ACME_DIRECTORIES[value];
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || url.protocol !== 'https:' || url.username || url.password || /[\s\0-\x1f]/.test(value) || value.length > 512) {
    throw new v.ValidationError(field, "must be 'production', 'staging' or an https:// URL of an ACME directory");
  }
  return url.href;
}

/** freshclam's PrivateMirror: a host (optionally with a port) or an http(s) URL of plain files. */
function virusMirror(field: string, value: string): string {
  if (!/^(https?:\/\/)?[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.test(value)) {
    throw new v.ValidationError(field, 'must be a host[:port] or an http(s):// URL of a ClamAV mirror');
  }
  return value;
}

function webUrl(field: string, value: string): string {
  return v.httpUrl(field, value, 'must be an http:// or https:// URL');
}

function displayName(field: string, value: string): string {
  if (value.trim() === '' || value.length > 64 || /[\0-\x1f\x7f]/.test(value)) throw new v.ValidationError(field, 'must be 1 to 64 printable characters');
  return value;
}

function containerName(field: string, value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value)) throw new v.ValidationError(field, 'must be a container name (letters, digits, . _ -)');
  return value;
}

/**
 * `list backup_peers` items are taken whole (a space inside one is an error, not two peers);
 * SecuBox's shell tool wrote `option backup_peers 'a b'`, a space-separated option, read as such.
 */
function meshPeers(uci: UciPackage): string[] {
  const raw = getOption(uci, 'mesh', 'backup_peers');
  const items = raw === undefined ? [] : Array.isArray(raw) ? raw : raw.split(/\s+/).filter((x) => x !== '');
  return items.map((p) => fieldError('mesh.backup_peers', () => v.meshPeer('mesh.backup_peers', p)));
}

function fieldError<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof v.ValidationError) throw new MailError('invalid_argument', `mailserver.${field}: ${e.message}`, field);
    throw e;
  }
}

function assertDistinctPorts(ports: Ports): void {
  const seen = new Map<number, string>();
  for (const [name, port] of Object.entries(ports)) {
    if (port === 0) continue;
    const other = seen.get(port);
    if (other) throw new MailError('invalid_argument', `mailserver.ports.${name}: port ${port} is already used by ports.${other}`, `ports.${name}`);
    seen.set(port, name);
  }
}
