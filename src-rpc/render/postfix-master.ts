// master.cf for our own Postfix instance. The service table follows Debian's
// /usr/share/postfix/master.cf.dist (Postfix 3.7) with two deliberate differences: the chroot
// column is `n` everywhere (our instance lives under the sandbox root / data_path, where a
// chroot would lack resolv.conf, the maps and the Dovecot sockets), and the three SMTP listeners
// take their ports from settings (a port 0 drops that listener). The bind address comes from
// main.cf's inet_interfaces.

import type { Settings } from '../config/settings.ts';
import type { RuntimeView } from './view.ts';
import { postscreenMasterRows } from './brute-force.ts';
import { GENERATED, assertPorts } from './text.ts';
import { INTERMEDIATE_CIPHERS } from './tls.ts';

/** check_sender_access table of the submission listeners (regexp: no postmap). */
export const NULL_SENDER_TABLE = 'submission-null-sender.regexp';
/** The null sender (the lookup key is smtpd_null_access_lookup_key, `<>`) is nobody's address. */
export const NULL_SENDER_REJECT = '/^<>$/ REJECT 5.7.1 The null sender is not accepted from authenticated clients\n';

/**
 * Options that make a listener a client (MUA) submission service: TLS (Mozilla "intermediate":
 * TLS 1.2+, ECDHE with AES-GCM or ChaCha20 only) + SASL + sender ownership. The envelope sender
 * must be owned by the login (smtpd_sender_login_maps); reject_sender_login_mismatch lets the
 * null sender through, so it is refused first.
 */
export function submissionOptions(v: RuntimeView): string[] {
  return [
    'smtpd_tls_security_level=encrypt',
    'smtpd_tls_mandatory_ciphers=high',
    `tls_high_cipherlist=${INTERMEDIATE_CIPHERS}`,
    'smtpd_sasl_auth_enable=yes',
    'smtpd_tls_auth_only=yes',
    'smtpd_client_restrictions=permit_sasl_authenticated,reject',
    'smtpd_relay_restrictions=permit_sasl_authenticated,reject',
    `smtpd_sender_restrictions=check_sender_access,regexp:${v.configDir}/${NULL_SENDER_TABLE},reject_sender_login_mismatch`,
  ];
}

type Row = [service: string, type: string, priv: string, unpriv: string, chroot: string, wakeup: string, maxproc: string, command: string];

function row(r: Row, options: readonly string[] = []): string {
  const [service, type, priv, unpriv, chroot, wakeup, maxproc, command] = r;
  const head =
    `${service.padEnd(9)} ${type.padEnd(5)} ${priv.padEnd(7)} ${unpriv.padEnd(7)} ${chroot.padEnd(7)} ` +
    `${wakeup.padEnd(7)} ${maxproc.padEnd(7)} ${command}`;
  return [head.trimEnd(), ...options.map((o) => `  -o ${o}`)].join('\n');
}

/** Internal services, as in Debian's master.cf.dist but never chrooted. */
const INTERNAL: Row[] = [
  ['pickup', 'unix', 'n', '-', 'n', '60', '1', 'pickup'],
  ['cleanup', 'unix', 'n', '-', 'n', '-', '0', 'cleanup'],
  ['qmgr', 'unix', 'n', '-', 'n', '300', '1', 'qmgr'],
  ['tlsmgr', 'unix', '-', '-', 'n', '1000?', '1', 'tlsmgr'],
  ['rewrite', 'unix', '-', '-', 'n', '-', '-', 'trivial-rewrite'],
  ['bounce', 'unix', '-', '-', 'n', '-', '0', 'bounce'],
  ['defer', 'unix', '-', '-', 'n', '-', '0', 'bounce'],
  ['trace', 'unix', '-', '-', 'n', '-', '0', 'bounce'],
  ['verify', 'unix', '-', '-', 'n', '-', '1', 'verify'],
  ['flush', 'unix', 'n', '-', 'n', '1000?', '0', 'flush'],
  ['proxymap', 'unix', '-', '-', 'n', '-', '-', 'proxymap'],
  ['proxywrite', 'unix', '-', '-', 'n', '-', '1', 'proxymap'],
  ['smtp', 'unix', '-', '-', 'n', '-', '-', 'smtp'],
  ['relay', 'unix', '-', '-', 'n', '-', '-', 'smtp'],
  ['showq', 'unix', 'n', '-', 'n', '-', '-', 'showq'],
  ['error', 'unix', '-', '-', 'n', '-', '-', 'error'],
  ['retry', 'unix', '-', '-', 'n', '-', '-', 'error'],
  ['discard', 'unix', '-', '-', 'n', '-', '-', 'discard'],
  ['local', 'unix', '-', 'n', 'n', '-', '-', 'local'],
  ['virtual', 'unix', '-', 'n', 'n', '-', '-', 'virtual'],
  ['lmtp', 'unix', '-', '-', 'n', '-', '-', 'lmtp'],
  ['anvil', 'unix', '-', '-', 'n', '-', '1', 'anvil'],
  ['scache', 'unix', '-', '-', 'n', '-', '1', 'scache'],
  ['postlog', 'unix-dgram', 'n', '-', 'n', '-', '1', 'postlogd'],
];

const INTERNAL_OPTIONS: Record<string, readonly string[]> = {
  relay: ['syslog_name=postfix/$service_name'],
};

export function renderPostfixMaster(s: Settings, v: RuntimeView): string {
  assertPorts(s.ports);
  const out: string[] = [
    GENERATED,
    '# ==========================================================================',
    '# service type  private unpriv  chroot  wakeup  maxproc command + args',
    '#               (yes)   (yes)   (no)    (never) (100)',
    '# ==========================================================================',
  ];
  const { smtp, submission, smtps } = s.ports;
  if (smtp !== 0 && s.features.fail2ban) {
    for (const r of postscreenMasterRows(smtp)) out.push(row(r));
  } else if (smtp !== 0) {
    out.push(row([String(smtp), 'inet', 'n', '-', 'n', '-', '-', 'smtpd']));
  }
  if (submission !== 0) {
    out.push(row([String(submission), 'inet', 'n', '-', 'n', '-', '-', 'smtpd'], [
      'syslog_name=postfix/submission',
      ...submissionOptions(v),
    ]));
  }
  if (smtps !== 0) {
    out.push(row([String(smtps), 'inet', 'n', '-', 'n', '-', '-', 'smtpd'], [
      'syslog_name=postfix/smtps',
      'smtpd_tls_wrappermode=yes',
      ...submissionOptions(v),
    ]));
  }
  for (const r of INTERNAL) out.push(row(r, INTERNAL_OPTIONS[r[0]]));
  return out.join('\n') + '\n';
}
