// Rspamd for our Postfix: the package's own configuration (CONFDIR, /etc/rspamd) with ours as
// LOCAL_CONFDIR (data_path/config/rspamd). Only override.d is used, so every value here wins
// over the stock one instead of merging into it (a merged local_addrs would keep 10.0.0.0/8).
//
// - The proxy worker is Postfix's milter and scans by itself (self_scan). Every worker listens
//   on a Unix socket: the milter's in a directory only Rspamd and the postfix group reach, the
//   controller's and the normal worker's in Rspamd's own run directory (root and Rspamd).
//   TCP on loopback would let any local user have mail signed or read the controller.
// - Only 127.0.0.1 and ::1 are "local" (the same trust as Postfix's mynetworks): Rspamd's
//   default would treat RFC 1918 and, through Postfix, loopback clients as local and sign or
//   skip checks for them.
// - DKIM signing: authenticated senders and local submissions (sendmail) only, never inbound.
//   Postfix makes sure the envelope sender belongs to the login; rspamd.local.lua refuses (5.7.1,
//   at end of data) an authenticated message whose From: the login does not own, so only owned
//   From: domains reach the signer. Local mail is signed only for domains we hold keys for.
// - SPF and DMARC checks follow features.spf / features.dmarc; a DMARC reject policy rejects.
// - Remote maps and rspamd.com's fuzzy servers only with features.spam_remote.
import type { Settings } from '../config/settings.ts';
import { GENERATED, lineSafe } from './text.ts';


export interface SigningKey {
  domain: string;
  selector: string;
  algorithm: 'rsa' | 'ed25519';
  /** Path of the private key file as the daemon sees it. */
  path: string;
}

export interface RspamdView {
  logFile: string;
  /** Milter socket (its directory: Rspamd and the postfix group only). */
  milterSocket: string;
  /** Group that may connect to the milter socket (Postfix's). */
  milterGroup: string;
  /** Controller and normal worker sockets (Rspamd's run directory: Rspamd and root only). */
  controllerSocket: string;
  normalSocket: string;
  /** Rspamd's user (owner of its sockets). */
  user: string;
  /** `alias/login` lines: which login owns which alias (renderSenderOwners). */
  senderOwnersFile: string;
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
  const socket = (path: string, mode: string, group: string) => `bind_socket = ${q(`${path} mode=${mode} owner=${v.user} group=${group}`)};`;
  out['override.d/worker-proxy.inc'] = file([
    socket(v.milterSocket, '0660', v.milterGroup),
    'milter = yes;',
    'timeout = 120s;',
    'count = 1;',
    'upstream "local" {',
    '  default = yes;',
    '  self_scan = yes;',
    '}',
  ]);
  out['override.d/worker-normal.inc'] = file([socket(v.normalSocket, '0600', v.user), 'count = 1;']);
  out['override.d/worker-controller.inc'] = file([socket(v.controllerSocket, '0600', v.user), 'count = 1;']);
  out['override.d/milter_headers.conf'] = file(['use = ["x-spamd-result", "x-spam-status", "authentication-results"];', 'extended_spam_headers = true;']);
  out['override.d/spf.conf'] = file([`enabled = ${s.features.spf};`]);
  out['override.d/dmarc.conf'] = file(
    s.features.dmarc ? ['enabled = true;', 'actions {', '  quarantine = "add_header";', '  reject = "reject";', '}'] : ['enabled = false;'],
  );
  out['override.d/dkim_signing.conf'] = file(s.features.dkim && v.keys.length ? dkimSigning(v.keys) : ['enabled = false;']);
  for (const m of REMOTE_MODULES) out[`override.d/${m}.conf`] = file([`enabled = ${s.features.spamRemote};`]);
  out['override.d/rbl.conf'] = file(s.features.spamRemote ? [] : ['url_whitelist = [];']);
  out['rspamd.local.lua'] = fromOwnership(v.senderOwnersFile);
  return out;
}

function dkimSigning(keys: SigningKey[]): string[] {
  const lines = [
    'enabled = true;',
    'sign_authenticated = true;',
    // Local mail (sendmail on the router): signed only for a From: domain we hold a key for.
    'sign_local = true;',
    'sign_inbound = false;',
    'use_domain = "header";',
    'allow_hdrfrom_mismatch = false;',
    'allow_envfrom_empty = false;',
    // The login's domain may differ from the From: domain when it owns an alias in another of
    // our domains; that From: was checked against the login before signing (rspamd.local.lua).
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

/**
 * A prefilter that rejects an authenticated message whose From: is not an address the login
 * owns: its own, an alias it is a target of, or a +tag form of either (Postfix checks the
 * envelope the same way with smtpd_sender_login_maps).
 */
function fromOwnership(ownersFile: string): string {
  return `-- ${GENERATED.slice(2)}
local owners = rspamd_config:add_map({
  type = 'set',
  url = ${q(`file://${ownersFile}`)},
  description = 'aliases and the logins that own them (alias/login)',
})

local function without_tag(addr)
  return (addr:gsub('^([^@+]*)%+[^@]*@', '%1@'))
end

local function owned(login, addr)
  for _, a in ipairs({ addr, without_tag(addr) }) do
    if a == login or (owners and owners:get_key(a .. '/' .. login)) then return true end
  end
  return false
end

rspamd_config:register_symbol({
  name = 'MAILSERVER_FROM_NOT_OWNED',
  type = 'prefilter',
  priority = 10,
  score = 0.0,
  description = 'authenticated sender uses a From: address its login does not own',
  callback = function(task)
    local login = task:get_user()
    if not login then return end
    login = login:lower()
    local from = task:get_from('mime') or {}
    local ok = #from > 0
    for _, f in ipairs(from) do
      if not f.addr or f.addr == '' or not owned(login, f.addr:lower()) then ok = false end
    end
    if not ok then
      task:insert_result('MAILSERVER_FROM_NOT_OWNED', 1.0)
      task:set_pre_result('reject', '5.7.1 From: header is not an address of ' .. login, 'mailserver')
    end
  end,
})
`;
}
