// main.cf for our own Postfix instance (`postfix -c <postfixConfigDir>`). Every mail domain is a
// virtual mailbox domain delivered to Dovecot over LMTP; nothing is delivered locally.
//
// Trust is narrow on purpose (DESIGN "Loopback trusts too much"): mynetworks is exactly
// 127.0.0.1/32 and [::1]/128 — never 127.0.0.0/8, never a LAN — and SASL is only offered on the
// submission/smtps listeners (master.cf), always behind TLS.

import type { Settings } from '../config/settings.ts';
import { mailHost } from '../config/settings.ts';
import type { RuntimeView } from './view.ts';
import { bruteForcePostfixMain } from './brute-force.ts';
import { isIPv4, isIPv6 } from '../sys/ip.ts';
import { GENERATED, assertPorts, bareAddress, kv, lineSafe, listenAddresses } from './text.ts';

/** 25 MiB: what the big providers accept; stays below Postfix's virtual_mailbox_limit default. */
export const MESSAGE_SIZE_LIMIT = 26_214_400;

/** The only networks Postfix trusts without authentication. */
export const MYNETWORKS = ['127.0.0.1/32', '[::1]/128'] as const;

export interface PostfixMainOptions {
  /** data_path/secrets/postfix/relay_passwd exists (and is postmapped): authenticate to the relayhost. */
  relayCredentials: boolean;
  /** The milter every message passes (Rspamd or OpenDKIM), e.g. `unix:/var/run/mailserver/rspamd-milter/milter.sock`. */
  milter?: string;
  /** main.relay_ca_file where Postfix reads it (a container's copy); default the setting itself. */
  relayCaFile?: string;
}

/** CAs that vouch for the relayhost when main.relay_ca_file is not set (OpenWrt's ca-bundle, Debian's ca-certificates). */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * smtpd_forbid_bare_newline for a Postfix version (SMTP smuggling): 3.9 and later name the
 * strict mode `normal`; the backports (3.8.5+, 3.7.10+, 3.6.14+, 3.5.24+) call it `yes`. Any other
 * value is fatal to smtpd, and versions without the setting get null (the parameter is left out).
 */
export function bareNewlineSetting(postfixVersion: string): 'normal' | 'yes' | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(postfixVersion.trim());
  if (!m) return null;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (major > 3 || (major === 3 && minor >= 9)) return 'normal';
  const backport: Record<number, number> = { 8: 5, 7: 10, 6: 14, 5: 24 };
  return major === 3 && backport[minor] !== undefined && patch >= backport[minor]! ? 'yes' : null;
}

/** Postfix inet_interfaces for s.main.listen (IPv6 literals in brackets); empty → all. */
export function postfixInetInterfaces(s: Settings): string {
  const list = listenAddresses(s);
  if (list.length === 0) return 'all';
  return list.map((raw) => {
    const a = bareAddress(raw);
    return isIPv6(a) ? `[${a}]` : a;
  }).join(', ');
}

/** `ipv4` when every listen address is IPv4, otherwise `all`. */
export function postfixInetProtocols(s: Settings): string {
  const list = listenAddresses(s).map(bareAddress);
  return list.length > 0 && list.every(isIPv4) ? 'ipv4' : 'all';
}

export function renderPostfixMain(s: Settings, v: RuntimeView, opts: PostfixMainOptions): string {
  assertPorts(s.ports);
  const t = v.mapType;
  const out: string[] = [GENERATED, ''];
  const section = (title: string, lines: string[]): void => {
    out.push(`# --- ${title}`, ...lines, '');
  };

  section('instance', [
    kv('compatibility_level', '3.6'),
    kv('queue_directory', v.postfixQueueDir),
    kv('data_directory', v.postfixDataDir),
    kv('mail_owner', 'postfix'),
    kv('setgid_group', 'postdrop'),
    kv('maillog_file_prefixes', v.logDir),
    kv('maillog_file', `${v.logDir}/mail.log`),
    // Nothing is delivered by local(8): no /etc/aliases, no local recipients.
    kv('alias_maps', ''),
    kv('alias_database', ''),
    kv('biff', 'no'),
  ]);

  section('identity and network', [
    kv('myhostname', mailHost(s)),
    kv('mydomain', s.main.domain),
    kv('myorigin', '$mydomain'),
    kv('mydestination', ''),
    kv('append_dot_mydomain', 'no'),
    kv('inet_interfaces', postfixInetInterfaces(s)),
    kv('inet_protocols', postfixInetProtocols(s)),
    kv('mynetworks_style', 'host'),
    kv('mynetworks', MYNETWORKS.join(', ')),
    kv('smtpd_banner', '$myhostname ESMTP'),
  ]);

  section('virtual domains, delivered to Dovecot over LMTP', [
    kv('virtual_mailbox_domains', `${t}:${v.configDir}/vdomains`),
    kv('virtual_mailbox_maps', `${t}:${v.configDir}/vmailbox`),
    kv('virtual_alias_maps', `${t}:${v.configDir}/virtual`),
    kv('virtual_transport', `lmtp:unix:${v.dovecotBaseDir}/lmtp`),
    kv('recipient_delimiter', '+'),
    kv('message_size_limit', MESSAGE_SIZE_LIMIT),
  ]);

  section('SASL through Dovecot (enabled per listener in master.cf)', [
    kv('smtpd_sasl_type', 'dovecot'),
    kv('smtpd_sasl_path', `${v.dovecotBaseDir}/auth-postfix`),
    kv('smtpd_sasl_auth_enable', 'no'),
    kv('smtpd_sasl_security_options', 'noanonymous'),
    kv('smtpd_sender_login_maps', `${t}:${v.configDir}/senders, regexp:${v.configDir}/senders-self.regexp`),
  ]);

  section('TLS', [
    kv('smtpd_tls_chain_files', `${v.sslDir}/privkey.pem, ${v.sslDir}/fullchain.pem`),
    kv('smtpd_tls_security_level', 'may'),
    kv('smtpd_tls_auth_only', 'yes'),
    kv('smtpd_tls_protocols', '>=TLSv1.2'),
    kv('smtpd_tls_mandatory_protocols', '>=TLSv1.2'),
    kv('smtpd_tls_received_header', 'yes'),
    kv('smtpd_tls_loglevel', '1'),
    // Outbound TLS stays opportunistic (any version beats plaintext); when TLS is mandatory
    // (relay credentials) it must be at least TLS 1.2.
    kv('smtp_tls_mandatory_protocols', '>=TLSv1.2'),
    kv('smtp_tls_loglevel', '1'),
  ]);

  const recipient = ['reject_unlisted_recipient'];
  if (s.features.quota) recipient.push(`check_policy_service unix:${v.dovecotBaseDir}/quota-status`);
  // SMTP smuggling (a second message hidden behind a bare-LF end of data) and command
  // pipelining by clients that have not said EHLO; both settings exist from the same releases.
  const bareNewline = bareNewlineSetting(v.postfixVersion);
  const smuggling = bareNewline === null ? [] : [kv('smtpd_forbid_bare_newline', bareNewline), kv('smtpd_forbid_unauth_pipelining', 'yes')];
  section('restrictions', [
    kv('smtpd_helo_required', 'yes'),
    kv('disable_vrfy_command', 'yes'),
    kv('smtpd_etrn_restrictions', 'reject'),
    ...smuggling,
    kv('smtpd_relay_restrictions', 'permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination'),
    kv('smtpd_recipient_restrictions', recipient.join(', ')),
  ]);

  const relay = lineSafe('relayhost', s.main.relayhost ?? '');
  const outbound: string[] = [];
  if (/\s/.test(relay)) throw new Error(`render: relayhost contains whitespace: ${JSON.stringify(relay)}`);
  if (relay !== '') outbound.push(kv('relayhost', relay));
  if (relay !== '' && opts.relayCredentials) {
    outbound.push(
      kv('smtp_sasl_auth_enable', 'yes'),
      kv('smtp_sasl_password_maps', `${t}:${v.postfixSecretsDir}/relay_passwd`),
      kv('smtp_sasl_security_options', 'noanonymous'),
      kv('smtp_sasl_tls_security_options', 'noanonymous'),
      // Credentials only go to a relay whose certificate a CA vouches for and names the
      // relayhost: `encrypt` would hand them to any man in the middle.
      kv('smtp_tls_security_level', 'secure'),
      kv('smtp_tls_secure_cert_match', 'nexthop'),
      kv('smtp_tls_CAfile', opts.relayCaFile ?? s.main.relayCaFile ?? SYSTEM_CA_BUNDLE),
    );
  } else {
    outbound.push(kv('smtp_tls_security_level', 'may'));
  }
  section('outbound', outbound);

  if (opts.milter) {
    section('milter: spam filter and DKIM signing', [
      kv('smtpd_milters', opts.milter),
      // Locally submitted mail (sendmail, mailctl test) is signed too.
      kv('non_smtpd_milters', '$smtpd_milters'),
      kv('milter_protocol', '6'),
      // Never let mail through unfiltered and unsigned: a milter that does not answer defers it.
      kv('milter_default_action', 'tempfail'),
      kv('milter_mail_macros', 'i {mail_addr} {client_addr} {client_name} {auth_type} {auth_authen} {auth_author}'),
    ]);
  }

  if (s.features.fail2ban) section('brute force (features.fail2ban): anvil limits, postscreen', bruteForcePostfixMain(s, v));

  return out.join('\n').replace(/\n+$/, '\n');
}
