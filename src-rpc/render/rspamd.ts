// Rspamd for our Postfix: the package's own configuration (CONFDIR, /etc/rspamd) with ours as
// LOCAL_CONFDIR (data_path/config/rspamd). Only override.d is used, so every value here wins
// over the stock one instead of merging into it (a merged local_addrs would keep 10.0.0.0/8).
//
// - The proxy worker is Postfix's milter on 127.0.0.1 and scans by itself (self_scan).
// - Only 127.0.0.1 and ::1 are "local" (the same trust as Postfix's mynetworks): Rspamd's
//   default would treat RFC 1918 and, through Postfix, loopback clients as local and sign or
//   skip checks for them.
// - DKIM signing: authenticated senders and local submissions (sendmail) only, never inbound.
// - SPF and DMARC checks follow features.spf / features.dmarc; a DMARC reject policy rejects.
// - Remote maps and rspamd.com's fuzzy servers only with features.spam_remote.
import type { Settings } from '../config/settings.ts';
import { GENERATED, lineSafe } from './text.ts';

export const RSPAMD_MILTER = { host: '127.0.0.1', port: 11332 } as const;
export const RSPAMD_NORMAL = { host: '127.0.0.1', port: 11333 } as const;
export const RSPAMD_CONTROLLER = { host: '127.0.0.1', port: 11334 } as const;

export interface SigningKey {
  domain: string;
  selector: string;
  algorithm: 'rsa' | 'ed25519';
  /** Path of the private key file as the daemon sees it. */
  path: string;
}

export interface RspamdView {
  logFile: string;
  /** Resolvers as `ip:port` (Rspamd must never fall back to a public one). */
  nameservers: string[];
  keys: SigningKey[];
}

/** Modules whose data comes from the internet (maps.rspamd.com, openphish, fuzzy servers, asn zones). */
const REMOTE_MODULES = ['fuzzy_check', 'mid', 'mime_types', 'phishing', 'asn', 'multimap', 'url_redirector'] as const;

const q = (s: string) => `"${lineSafe('rspamd value', s).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
const file = (lines: string[]) => [`# ${GENERATED.slice(2)}`, ...lines, ''].join('\n');

/** Files relative to LOCAL_CONFDIR. */
export function renderRspamd(s: Settings, v: RspamdView): Record<string, string> {
  const out: Record<string, string> = {};
  out['override.d/options.inc'] = file([
    'local_addrs = ["127.0.0.1/32", "::1/128"];',
    'dns {',
    `  nameserver = [${v.nameservers.map(q).join(', ')}];`,
    '  timeout = 2s;',
    '  retransmits = 2;',
    '}',
  ]);
  out['override.d/logging.inc'] = file(['type = "file";', `filename = ${q(v.logFile)};`, 'level = "info";']);
  out['override.d/worker-proxy.inc'] = file([
    `bind_socket = "${RSPAMD_MILTER.host}:${RSPAMD_MILTER.port}";`,
    'milter = yes;',
    'timeout = 120s;',
    'count = 1;',
    'upstream "local" {',
    '  default = yes;',
    '  self_scan = yes;',
    '}',
  ]);
  out['override.d/worker-normal.inc'] = file([`bind_socket = "${RSPAMD_NORMAL.host}:${RSPAMD_NORMAL.port}";`, 'count = 1;']);
  out['override.d/worker-controller.inc'] = file([`bind_socket = "${RSPAMD_CONTROLLER.host}:${RSPAMD_CONTROLLER.port}";`, 'count = 1;']);
  out['override.d/milter_headers.conf'] = file(['use = ["x-spamd-result", "x-spam-status", "authentication-results"];', 'extended_spam_headers = true;']);
  out['override.d/spf.conf'] = file([`enabled = ${s.features.spf};`]);
  out['override.d/dmarc.conf'] = file(
    s.features.dmarc ? ['enabled = true;', 'actions {', '  quarantine = "add_header";', '  reject = "reject";', '}'] : ['enabled = false;'],
  );
  out['override.d/dkim_signing.conf'] = file(s.features.dkim && v.keys.length ? dkimSigning(v.keys) : ['enabled = false;']);
  for (const m of REMOTE_MODULES) out[`override.d/${m}.conf`] = file([`enabled = ${s.features.spamRemote};`]);
  out['override.d/rbl.conf'] = file(s.features.spamRemote ? [] : ['url_whitelist = [];']);
  return out;
}

function dkimSigning(keys: SigningKey[]): string[] {
  const lines = [
    'enabled = true;',
    'sign_authenticated = true;',
    'sign_local = true;',
    'sign_inbound = false;',
    'use_domain = "header";',
    'allow_hdrfrom_mismatch = false;',
    'allow_username_mismatch = true;',
    'use_esld = false;',
    'try_fallback = false;',
    'domain {',
  ];
  const domains = [...new Set(keys.map((k) => k.domain))].sort();
  for (const d of domains) {
    lines.push(`  ${q(d)} {`, '    selectors = [');
    for (const k of keys.filter((x) => x.domain === d)) lines.push(`      { path = ${q(k.path)}; selector = ${q(k.selector)}; },`);
    lines.push('    ];', '  }');
  }
  lines.push('}');
  return lines;
}
