// Brute-force defence in the daemons' own configuration (features.fail2ban=1): Postfix's anvil
// rate limits and postscreen on port 25, Dovecot's auth logging and delays. The bans themselves
// are the ban watcher's (src-rpc/ban): it counts the failures Dovecot's auth logs — SMTP AUTH
// goes through Dovecot's auth too, so one log covers SMTP, IMAP, POP3 and ManageSieve.
import type { Settings } from '../config/settings.ts';
import type { RuntimeView } from './view.ts';
import { kv, lineSafe } from './text.ts';

/**
 * Per client address and minute. Generous for people and mail servers (a client with 30 tabs, a
 * TLS scanner), tight for a password sprayer; the ban stops a slow one.
 */
export const CONNECTIONS_PER_MINUTE = 100;
export const AUTH_PER_MINUTE = 30;

/** Seconds postscreen waits for a pregreeting bot on the first connection of an address. */
export const GREET_WAIT = 4;

/**
 * postscreen's cache of passed clients needs a writable map: cdb (OpenWrt's only type) is
 * read-only, so there every connection takes the greeting wait again (no cache).
 */
function postscreenCache(v: RuntimeView): string {
  if (v.mapType === 'cdb') return '';
  const type = v.mapType === 'lmdb' ? 'lmdb' : 'btree';
  return `${type}:${v.postfixDataDir}/postscreen_cache`;
}

export function bruteForcePostfixMain(s: Settings, v: RuntimeView): string[] {
  const dnsbl = s.ban.dnsbl.map((d) => lineSafe('ban.dnsbl', d));
  return [
    kv('anvil_rate_time_unit', '60s'),
    kv('smtpd_client_connection_rate_limit', CONNECTIONS_PER_MINUTE),
    kv('smtpd_client_auth_rate_limit', AUTH_PER_MINUTE),
    // Port 25 (master.cf): postscreen answers first and drops clients that talk before their
    // turn; the ones that wait are handed to smtpd. Our own networks skip the test.
    kv('postscreen_access_list', 'permit_mynetworks'),
    kv('postscreen_blacklist_action', 'drop'),
    kv('postscreen_greet_action', 'enforce'),
    kv('postscreen_greet_wait', `${GREET_WAIT}s`),
    kv('postscreen_cache_map', postscreenCache(v)),
    kv('postscreen_dnsbl_sites', dnsbl.join(', ')),
    kv('postscreen_dnsbl_action', dnsbl.length ? 'enforce' : 'ignore'),
  ];
}

/** master.cf rows of port 25 behind postscreen (instead of the plain smtpd row). */
export function postscreenMasterRows(smtpPort: number): [string, string, string, string, string, string, string, string][] {
  return [
    [String(smtpPort), 'inet', 'n', '-', 'n', '-', '1', 'postscreen'],
    ['smtpd', 'pass', '-', '-', 'n', '-', '-', 'smtpd'],
    ['tlsproxy', 'unix', '-', '-', 'n', '-', '0', 'tlsproxy'],
    ['dnsblog', 'unix', '-', '-', 'n', '-', '0', 'dnsblog'],
  ];
}

export function bruteForceDovecot(): string[] {
  return [
    // Every failed login with its client address: what the ban watcher counts.
    kv('auth_verbose', 'yes'),
    // A fixed delay, and no growing penalty: anvil's penalty reaches 15 s, beyond Postfix's wait
    // for Dovecot's SASL answer, and locked a legitimate user on the same address out of
    // submission. Bans stop the guessing instead.
    kv('auth_failure_delay', '2 secs'),
    'service anvil {',
    '  unix_listener anvil-auth-penalty {',
    '    mode = 0',
    '  }',
    '}',
    kv('mail_max_userip_connections', 10),
  ];
}
