// OpenDKIM, the signer when Rspamd is off (features.spam_filter=0, features.dkim=1): sign-only
// mode on 127.0.0.1. OpenDKIM 2.11 signs with one algorithm per process (SignatureAlgorithm is
// global; an Ed25519 key under the default rsa-sha256 fails every message), so each configured
// algorithm gets its own instance and port, and Postfix passes mail through both.
// It signs mail from authenticated senders (Postfix passes {auth_authen}) and from
// InternalHosts, which is exactly loopback (Postfix's mynetworks); never other inbound mail.
import { GENERATED, lineSafe } from './text.ts';
import type { SigningKey } from './rspamd.ts';

export type OpendkimInstance = 'rsa' | 'ed25519';

export const OPENDKIM_HOST = '127.0.0.1';
export const OPENDKIM_PORTS: Record<OpendkimInstance, number> = { rsa: 8891, ed25519: 8892 };
const ALGORITHM: Record<OpendkimInstance, string> = { rsa: 'rsa-sha256', ed25519: 'ed25519-sha256' };

/** File names in the configuration directory: opendkim.conf (rsa), opendkim-ed25519.conf, ... */
export const opendkimName = (instance: OpendkimInstance, base: string, ext: string) => `${base}${instance === 'rsa' ? '' : `-${instance}`}.${ext}`;

export interface OpendkimView {
  /** Directory of the configuration files and tables, as the daemon sees it. */
  configDir: string;
  /** Directory of the pid files. */
  runDir: string;
  user: string;
  instances: OpendkimInstance[];
  keys: SigningKey[];
}

const safe = (what: string, s: string) => {
  if (/\s/.test(lineSafe(what, s))) throw new Error(`render: ${what} contains whitespace: ${JSON.stringify(s)}`);
  return s;
};

/** Files relative to configDir. */
export function renderOpendkim(v: OpendkimView): Record<string, string> {
  const keyName = (k: SigningKey) => `${k.selector}._domainkey.${k.domain}`;
  const dir = safe('path', v.configDir);
  const out: Record<string, string> = { 'internal.hosts': ['127.0.0.1', '::1', ''].join('\n') };
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
      `Socket inet:${OPENDKIM_PORTS[i]}@${OPENDKIM_HOST}`,
      `PidFile ${safe('path', v.runDir)}/${opendkimName(i, 'opendkim', 'pid')}`,
      `UserID ${safe('user', v.user)}`,
      'UMask 007',
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
