// One self-contained dovecot.conf for Dovecot 2.3 (`dovecot -c <file>`; nothing is included from
// /etc/dovecot). Accounts live in <configDir>/users, a passwd-file holding only
// `email:{SHA512-CRYPT}hash::::::extra`; uid, gid and home come from default_fields here, so the
// store does not depend on the runtime that serves it.

import type { Settings } from '../config/settings.ts';
import { mailHost, postmasterAddress } from '../config/settings.ts';
import type { MailboxView, RuntimeView } from './view.ts';
import { GENERATED, assertPorts, bareAddress, kv, lineSafe, listenAddresses } from './text.ts';
import { INTERMEDIATE_CIPHERS, MIN_TLS_PROTOCOL } from './tls.ts';
import { bruteForceDovecot } from './brute-force.ts';

/** Standard folders, created and subscribed on first login. */
export const SPECIAL_MAILBOXES = [
  ['Drafts', '\\Drafts'],
  ['Junk', '\\Junk'],
  ['Sent', '\\Sent'],
  ['Trash', '\\Trash'],
] as const;

/**
 * Refuse Dovecot versions this renderer cannot serve. `versionString` is what `dovecot --version`
 * prints, e.g. `2.3.19.1 (9b53102964)`.
 */
export function assertDovecotSupported(versionString: string): void {
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?/.exec(versionString);
  if (!m) throw new Error(`cannot read the Dovecot version from ${JSON.stringify(versionString.trim())}`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const shown = `${major}.${minor}`;
  if (major > 2 || (major === 2 && minor >= 4)) {
    throw new Error(`Dovecot ${shown} is not supported yet (settings were renamed); install Dovecot 2.3`);
  }
  if (major < 2 || minor < 3) {
    throw new Error(`Dovecot ${shown} is too old; install Dovecot 2.3`);
  }
}

/**
 * Dovecot quota_rule for a byte count (0 = unlimited, which Dovecot spells `storage=0`).
 * `B` makes the number bytes (a bare `storage=` number is kilobytes).
 */
export function quotaRule(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`render: bad quota ${String(bytes)}`);
  return bytes === 0 ? '*:storage=0' : `*:storage=${bytes}B`;
}

/**
 * The users-file extra field carrying a mailbox's own quota, or null when the mailbox uses the
 * default (quota null) or quotas are off. The store appends it to the user's line.
 */
export function userdbQuotaField(s: Settings, mb: MailboxView): string | null {
  if (!s.features.quota || mb.quota === null) return null;
  return `userdb_quota_rule=${quotaRule(mb.quota)}`;
}

/** A `name {` ... `}` block, body lines indented by two spaces. */
function block(head: string, body: string[]): string[] {
  return [`${head} {`, ...body.map((l) => (l === '' ? l : `  ${l}`)), '}'];
}

export function renderDovecot(s: Settings, v: RuntimeView): string {
  assertPorts(s.ports);
  const p = s.ports;
  const pop3 = p.pop3 !== 0 || p.pop3s !== 0;
  const sieve = p.sieve !== 0;
  const quota = s.features.quota;
  if (!Number.isSafeInteger(s.features.quotaDefault) || s.features.quotaDefault < 0) {
    throw new Error(`render: bad features.quota_default ${String(s.features.quotaDefault)}`);
  }
  const protocols = ['imap', 'lmtp', ...(pop3 ? ['pop3'] : []), ...(sieve ? ['sieve'] : [])];
  const listen = listenAddresses(s).map(bareAddress);
  const users = `${v.configDir}/users`;
  const home = `${v.mailDir}/%Ld/%Ln`;

  const out: string[] = [GENERATED, ''];
  const push = (...lines: string[]): void => {
    out.push(...lines);
  };

  push(
    '# --- instance',
    kv('base_dir', v.dovecotBaseDir),
    kv('state_dir', v.dovecotStateDir),
    kv('log_path', `${v.logDir}/dovecot.log`),
    kv('info_log_path', `${v.logDir}/dovecot.log`),
    kv('protocols', protocols.join(' ')),
    kv('listen', listen.length > 0 ? listen.join(', ') : '*, ::'),
    kv('hostname', mailHost(s)),
    kv('postmaster_address', postmasterAddress(s)),
    '',
    '# --- TLS: required before any authentication',
    kv('ssl', 'required'),
    kv('ssl_cert', `<${v.sslDir}/fullchain.pem`),
    kv('ssl_key', `<${v.sslDir}/privkey.pem`),
    kv('ssl_min_protocol', MIN_TLS_PROTOCOL),
    kv('ssl_cipher_list', INTERMEDIATE_CIPHERS),
    // Every offered suite is strong: let the client pick what its hardware does fast (Mozilla).
    kv('ssl_prefer_server_ciphers', 'no'),
    '',
    '# --- authentication: one passwd-file, email as user name',
    kv('disable_plaintext_auth', 'yes'),
    kv('auth_mechanisms', 'plain login'),
    kv('auth_username_format', '%Lu'),
    ...block('passdb', [
      kv('driver', 'passwd-file'),
      kv('args', `scheme=SHA512-CRYPT username_format=%Lu ${users}`),
    ]),
    ...block('userdb', [
      kv('driver', 'passwd-file'),
      kv('args', `username_format=%Lu ${users}`),
      kv('default_fields', `uid=${v.mailUid} gid=${v.mailGid} home=${home}`),
    ]),
    '',
    '# --- mail storage: <mailDir>/<domain>/<user>/{cur,new,tmp}',
    kv('mail_location', `maildir:${home}`),
    // The home directory is the maildir itself (the spec's layout): stat entries so files
    // such as .dovecot.sieve or .dovecot.lda-dupes never show up as mailboxes.
    kv('maildir_stat_dirs', 'yes'),
    kv('mailbox_list_index', 'yes'),
    kv('mail_uid', v.mailUid),
    kv('mail_gid', v.mailGid),
    kv('first_valid_uid', v.mailUid),
    kv('first_valid_gid', v.mailGid),
    kv('mail_privileged_group', ''),
  );
  if (quota) {
    // Over quota at delivery (mail that passed the RCPT-time check together with others) is a
    // temporary failure: the message waits in Postfix's queue, never bounces to a sender that
    // may be forged (backscatter).
    push(kv('mail_plugins', '$mail_plugins quota'), kv('quota_full_tempfail', 'yes'));
  }
  push(
    ...block('namespace inbox', [
      kv('inbox', 'yes'),
      kv('separator', '/'),
      ...SPECIAL_MAILBOXES.flatMap(([name, use]) =>
        block(`mailbox ${name}`, [kv('special_use', use), kv('auto', 'subscribe')]),
      ),
    ]),
    '',
    '# --- listeners (port 0 = off)',
    ...block('service imap-login', [
      ...block('inet_listener imap', [kv('port', String(p.imap))]),
      ...block('inet_listener imaps', [kv('port', String(p.imaps)), kv('ssl', 'yes')]),
    ]),
  );
  if (pop3) {
    push(
      ...block('service pop3-login', [
        ...block('inet_listener pop3', [kv('port', String(p.pop3))]),
        ...block('inet_listener pop3s', [kv('port', String(p.pop3s)), kv('ssl', 'yes')]),
      ]),
    );
  }
  if (sieve) {
    push(
      ...block('service managesieve-login', [
        ...block('inet_listener sieve', [kv('port', String(p.sieve))]),
      ]),
    );
  }
  push(
    '',
    '# --- sockets for Postfix (LMTP delivery, SASL)',
    ...block('service lmtp', [
      ...block('unix_listener lmtp', [kv('mode', '0600'), kv('user', 'postfix'), kv('group', 'postfix')]),
    ]),
    ...block('service auth', [
      ...block('unix_listener auth-postfix', [kv('mode', '0600'), kv('user', 'postfix'), kv('group', 'postfix')]),
      ...block('unix_listener auth-userdb', [kv('mode', '0600')]),
    ]),
  );
  if (quota) {
    push(
      '',
      '# --- quota: count backend; Postfix asks quota-status at RCPT time',
      ...block('service quota-status', [
        kv('executable', 'quota-status -p postfix'),
        ...block('unix_listener quota-status', [kv('mode', '0600'), kv('user', 'postfix')]),
        kv('client_limit', '1'),
      ]),
      ...block('protocol imap', [kv('mail_plugins', '$mail_plugins imap_quota')]),
    );
  }
  if (sieve) {
    push(
      '',
      '# --- Sieve filtering at delivery, scripts managed over ManageSieve',
      ...block('protocol lmtp', [kv('mail_plugins', '$mail_plugins sieve')]),
    );
  }
  const plugin: string[] = [];
  if (quota) {
    plugin.push(
      kv('quota', 'count:User quota'),
      kv('quota_vsizes', 'yes'),
      ...(s.features.quotaDefault > 0 ? [kv('quota_rule', quotaRule(s.features.quotaDefault))] : []),
      kv('quota_status_success', 'DUNNO'),
      kv('quota_status_nouser', 'DUNNO'),
      kv('quota_status_overquota', '"552 5.2.2 Mailbox is full"'),
    );
  }
  if (sieve) plugin.push(kv('sieve', 'file:~/sieve;active=~/.dovecot.sieve'));
  if (plugin.length > 0) push('', ...block('plugin', plugin));

  if (s.features.fail2ban) push('', '# --- brute force (features.fail2ban)', ...bruteForceDovecot());

  for (const line of out) lineSafe('dovecot.conf', line);
  return out.join('\n') + '\n';
}
