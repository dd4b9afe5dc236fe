// OpenDKIM, the signer when Rspamd is off (features.spam_filter=0, features.dkim=1): sign-only
// mode on a Unix socket in a directory only OpenDKIM and the postfix group reach (the sockets
// are created mode 0777 — UMask 000 — because Postfix is not in OpenDKIM's group; the directory
// is what keeps others out). OpenDKIM 2.11 signs with one algorithm per process (SignatureAlgorithm is
// global; an Ed25519 key under the default rsa-sha256 fails every message), so each configured
// algorithm gets its own instance and port, and Postfix passes mail through both.
// It signs mail from authenticated senders (Postfix passes {auth_authen}) and from
// InternalHosts, which is exactly loopback (Postfix's mynetworks); never other inbound mail.
// Postfix makes sure the envelope sender belongs to the login; the setup script (Lua, run once
// the headers are in) rejects an authenticated message whose From: the login does not own, so
// nothing forged reaches the signing step. Local mail is signed only for our domains (the
// signing table).
import { GENERATED, lineSafe } from './text.ts';
import type { SigningKey } from './rspamd.ts';

export type OpendkimInstance = 'rsa' | 'ed25519';

const ALGORITHM: Record<OpendkimInstance, string> = { rsa: 'rsa-sha256', ed25519: 'ed25519-sha256' };

/** File names in the configuration directory: opendkim.conf (rsa), opendkim-ed25519.conf, ... */
export const opendkimName = (instance: OpendkimInstance, base: string, ext: string) => `${base}${instance === 'rsa' ? '' : `-${instance}`}.${ext}`;

export interface OpendkimView {
  /** Directory of the configuration files and tables, as the daemon sees it. */
  configDir: string;
  /** Directory of the pid files and milter sockets (OpenDKIM and the postfix group only). */
  runDir: string;
  /** `alias/login` lines: which login owns which alias (renderSenderOwners). */
  senderOwnersFile: string;
  user: string;
  instances: OpendkimInstance[];
  keys: SigningKey[];
}

const safe = (what: string, s: string) => {
  if (/\s/.test(lineSafe(what, s))) throw new Error(`render: ${what} contains whitespace: ${JSON.stringify(s)}`);
  return s;
};

/** The milter socket of an instance (Postfix's smtpd_milters names it as `unix:<path>`). */
export const opendkimSocket = (runDir: string, instance: OpendkimInstance) => `${safe('path', runDir)}/${opendkimName(instance, 'opendkim', 'sock')}`;

const FROM_OWNERSHIP_SCRIPT = 'from-ownership.lua';

/** Files relative to configDir. */
export function renderOpendkim(v: OpendkimView): Record<string, string> {
  const keyName = (k: SigningKey) => `${k.selector}._domainkey.${k.domain}`;
  const dir = safe('path', v.configDir);
  const out: Record<string, string> = {
    'internal.hosts': ['127.0.0.1', '::1', ''].join('\n'),
    [FROM_OWNERSHIP_SCRIPT]: fromOwnership(safe('path', v.senderOwnersFile)),
  };
  for (const i of v.instances) {
    const keys = v.keys.filter((k) => k.algorithm === i).sort((a, b) => (a.domain + a.selector < b.domain + b.selector ? -1 : 1));
    out[opendkimName(i, 'opendkim', 'conf')] = [
      GENERATED,
      'Syslog no',
      'Mode s',
      `SignatureAlgorithm ${ALGORITHM[i]}`,
      'Canonicalization relaxed/simple',
      'OversignHeaders From',
      'MultipleSignatures yes',
      `Socket local:${opendkimSocket(v.runDir, i)}`,
      `PidFile ${safe('path', v.runDir)}/${opendkimName(i, 'opendkim', 'pid')}`,
      `UserID ${safe('user', v.user)}`,
      'UMask 000',
      `SetupPolicyScript ${dir}/${FROM_OWNERSHIP_SCRIPT}`,
      `KeyTable file:${dir}/${opendkimName(i, 'key', 'table')}`,
      `SigningTable refile:${dir}/${opendkimName(i, 'signing', 'table')}`,
      `InternalHosts ${dir}/internal.hosts`,
      `ExternalIgnoreList ${dir}/internal.hosts`,
      '',
    ].join('\n');
    out[opendkimName(i, 'key', 'table')] = keys.map((k) => `${keyName(k)} ${safe('domain', k.domain)}:${safe('selector', k.selector)}:${safe('key path', k.path)}\n`).join('');
    out[opendkimName(i, 'signing', 'table')] = keys.map((k) => `*@${k.domain} ${keyName(k)}\n`).join('');
  }
  return out;
}

/**
 * Setup script: an authenticated message (Postfix's {auth_authen}) must have exactly one From:
 * with one address the login owns — its own, an alias listed for it in the owners file, or a
 * +tag form of either; anything else is rejected (Postfix answers 550 5.7.1).
 */
function fromOwnership(ownersFile: string): string {
  return `-- ${GENERATED.slice(2)}
local login = odkim.get_mtasymbol(ctx, "{auth_authen}")
if login == nil or login == "" then return end
login = string.lower(login)

local function address(value)
  if value == nil then return nil end
  local inner = string.match(value, "<([^<>]*)>%s*$") or value
  inner = string.lower(string.gsub(inner, "^%s*(.-)%s*$", "%1"))
  local _, ats = string.gsub(inner, "@", "")
  if ats ~= 1 or string.find(inner, "[%s,;<>]") then return nil end
  return inner
end

local from = address(odkim.get_header(ctx, "From", 0))
local owned = false
if from ~= nil and odkim.get_header(ctx, "From", 1) == nil then
  local owners = odkim.db_open("file:${ownersFile}", true)
  for _, a in ipairs({ from, (string.gsub(from, "^([^@+]*)%+[^@]*@", "%1@")) }) do
    if a == login or odkim.db_check(owners, a .. "/" .. login) == 1 then owned = true end
  end
  odkim.db_close(owners)
end
if not owned then
  odkim.log(ctx, "From: not owned by " .. login .. ", rejected")
  odkim.set_result(ctx, SMFIS_REJECT)
end
`;
}
