// Renderers: golden files (UPDATE_GOLDEN=1 rewrites them), property checks that can fail, and a
// real check of the output with postconf / postfix check / doveconf / postmap.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../../src-rpc/config/settings.ts';
import type { AliasView, MailboxView, RuntimeView } from '../../src-rpc/render/view.ts';
import { renderPostfixMain, bareNewlineSetting, SYSTEM_CA_BUNDLE } from '../../src-rpc/render/postfix-main.ts';
import { INTERMEDIATE_CIPHERS } from '../../src-rpc/render/tls.ts';
import { renderPostfixMaster } from '../../src-rpc/render/postfix-master.ts';
import { assertDovecotSupported, renderDovecot, userdbQuotaField } from '../../src-rpc/render/dovecot.ts';
import { renderRelayPasswd, renderSenderOwners, renderSenders, renderVdomains, renderVirtual, renderVmailbox, renderSendersSelf, newMailboxOnlyInVmailbox } from '../../src-rpc/render/maps.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'render');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

// --- fixtures --------------------------------------------------------------------------------

function settings(patch: (s: Settings) => void = () => {}): Settings {
  const s: Settings = {
    main: {
      enabled: true,
      hostname: 'mail',
      domain: 'example.com',
      extraDomains: ['example.org'],
      postmaster: 'alice',
      dataPath: '/srv/mailserver',
      container: 'mailserver',
      runtime: 'host',
      listen: [],
      relayhost: null,
      relayCaFile: null,
      publicIp: null,
      publicIp6: null,
      workerIdle: 120,
    },
    ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993, pop3: 110, pop3s: 995, sieve: 4190 },
    features: {
      spamFilter: true, virusScan: false, dkim: true, spf: true, dmarc: true, fail2ban: true,
      quota: true, quotaDefault: 1073741824, spamRemote: true, virusMirror: null,
    },
    ssl: { type: 'letsencrypt', certPath: '', keyPath: '', acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory', acmeEmail: 'postmaster@example.com', keyType: 'ec256', renewDays: 30, extraNames: [] },
    webmail: { enabled: true, container: 'secubox-webmail', port: 8026, configPath: '/etc/roundcube/config.inc.php', logPath: '/var/log/roundcube/errors.log', url: null, productName: 'SecuBox Webmail' },
    autoconfig: { enabled: true, docroot: '/www' },
    mesh: { enabled: false, backupPeers: [], syncInterval: 3600, keep: 7, keyType: 'passphrase' },
    dns: {
      provider: 'manual', zones: [], ttl: 3600, server: null, resolver: null, wait: 120, spfPolicy: '~all',
      dmarcPolicy: 'none', dmarcRua: null, dkimSelector: 'mail', dkimAlgorithms: ['rsa'], dkimGraceDays: 7,
    },
    ban: { maxFailures: 10, findTime: 600, banTime: 3600, allow: [], dnsbl: [] },
    lxc: {
      path: '/srv/lxc', memoryLimit: null, network: 'host', bridge: 'br-lan', address: null, gateway: null, rootfs: 'download',
      distribution: 'debian', release: 'bookworm', arch: null, mirror: 'http://deb.debian.org/debian', autostart: true,
    },
  };
  patch(s);
  return s;
}

function view(root = '/srv/mailserver', mapType: RuntimeView['mapType'] = 'hash'): RuntimeView {
  return {
    configDir: `${root}/config`,
    mailDir: `${root}/mail`,
    sslDir: `${root}/ssl`,
    postfixSecretsDir: `${root}/secrets/postfix`,
    postfixConfigDir: `${root}/run/postfix/etc`,
    postfixQueueDir: `${root}/run/postfix/spool`,
    postfixDataDir: `${root}/run/postfix/lib`,
    dovecotConfigFile: `${root}/run/dovecot/dovecot.conf`,
    dovecotBaseDir: `${root}/run/dovecot/base`,
    dovecotStateDir: `${root}/run/dovecot/state`,
    logDir: `${root}/log`,
    mailUid: 5000,
    mailGid: 5000,
    mapType,
    postfixVersion: '3.7.11',
  };
}

const MAILBOXES: MailboxView[] = [
  { email: 'alice@example.com', quota: null },
  { email: 'Bob@Example.com', quota: 0 },
  { email: 'carol@example.org', quota: 2147483648 },
];
const ALIASES: AliasView[] = [
  { alias: 'info@example.com', targets: ['alice@example.com', 'bob@example.com'] },
  { alias: 'sales@example.com', targets: ['alice@example.com', 'Partner@Partner.TEST'] },
  { alias: '@example.org', targets: ['carol@example.org'] },
  { alias: 'abuse@example.com', targets: ['bob@example.com'] },
];

/** (a) defaults: quota on, every port. */
const A = settings();
/** (b) POP3 and ManageSieve off, smarthost with credentials, loopback only. */
const B = settings((s) => {
  s.ports.pop3 = 0;
  s.ports.pop3s = 0;
  s.ports.sieve = 0;
  s.main.relayhost = '[smtp.relay.test]:587';
  s.main.listen = ['127.0.0.1'];
});

function rendered(s: Settings, v: RuntimeView, relayCredentials: boolean): Record<string, string> {
  return {
    'main.cf': renderPostfixMain(s, v, { relayCredentials }),
    'master.cf': renderPostfixMaster(s, v),
    'dovecot.conf': renderDovecot(s, v),
  };
}

function maps(s: Settings): Record<string, string> {
  return {
    vdomains: renderVdomains(s, MAILBOXES, ALIASES),
    vmailbox: renderVmailbox(s, MAILBOXES, ALIASES),
    virtual: renderVirtual(s, MAILBOXES, ALIASES),
    senders: renderSenders(s, MAILBOXES, ALIASES),
  };
}

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (UPDATE) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`missing golden ${file}: run with UPDATE_GOLDEN=1 and review the diff`);
  }
  assert.fixture(actual, expected, `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

/** Non-comment setting lines of a main.cf / dovecot.conf as key → value (last wins). */
function settingsOf(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (r) m.set(r[1]!, r[2]!);
  }
  return m;
}

// --- golden files ----------------------------------------------------------------------------

test('golden: defaults (quota, every port)', () => {
  for (const [name, text] of Object.entries(rendered(A, view(), false))) golden(`defaults/${name}`, text);
});

test('golden: pop3 + sieve off, relayhost with credentials, listen 127.0.0.1', () => {
  for (const [name, text] of Object.entries(rendered(B, view(), true))) golden(`relay-loopback/${name}`, text);
});

test('golden: maps', () => {
  for (const [name, text] of Object.entries(maps(A))) golden(`maps/${name}`, text);
  // Not a Postfix table: the signers' From: ownership data set (alias/login keys).
  golden('maps/sender-owners', renderSenderOwners(A, MAILBOXES, ALIASES));
  golden('maps/relay_passwd', renderRelayPasswd('[smtp.relay.test]:587', 'relayuser', 's3cr:et!'));
});

// --- checks that can fail --------------------------------------------------------------------

test('renderers are deterministic', () => {
  assert.equal(rendered(A, view(), true), rendered(A, view(), true));
  assert.equal(maps(A), maps(A));
});

test('master.cf: each SMTP port is one listener; port 0 removes it', () => {
  const s = settings((x) => {
    x.ports.smtp = 2525;
    x.ports.submission = 10587;
    x.ports.smtps = 10465;
  });
  const master = renderPostfixMaster(s, view());
  const inet = master.split('\n').filter((l) => /^\S+\s+inet\s/.test(l));
  assert.equal(inet.map((l) => l.split(/\s+/)[0]), ['2525', '10587', '10465']);
  for (const l of inet) assert.equal(l.split(/\s+/).slice(1, 6), ['inet', 'n', '-', 'n', '-']);
  // No default port sneaks in anywhere.
  assert.not.match(master, /^(25|587|465|smtp|submission|smtps)\s+inet/m);
  // submission options follow their listener, smtps adds wrapper mode
  const blocks = master.split(/\n(?=\S)/);
  const sub = blocks.find((b) => b.startsWith('10587 '))!;
  const smtps = blocks.find((b) => b.startsWith('10465 '))!;
  const plain = blocks.find((b) => b.startsWith('2525 '))!;
  for (const opt of ['smtpd_tls_security_level=encrypt', 'smtpd_sasl_auth_enable=yes', 'smtpd_tls_auth_only=yes',
    'smtpd_client_restrictions=permit_sasl_authenticated,reject', 'smtpd_relay_restrictions=permit_sasl_authenticated,reject',
    'smtpd_sender_restrictions=check_sender_access,regexp:/srv/mailserver/config/submission-null-sender.regexp,reject_sender_login_mismatch',
    'smtpd_tls_mandatory_ciphers=high', `tls_high_cipherlist=${INTERMEDIATE_CIPHERS}`]) {
    assert.ok(sub.includes(`-o ${opt}`), `submission lacks ${opt}`);
    assert.ok(smtps.includes(`-o ${opt}`), `smtps lacks ${opt}`);
  }
  assert.ok(smtps.includes('-o smtpd_tls_wrappermode=yes'));
  assert.not.ok(sub.includes('wrappermode'));
  assert.not.ok(plain.includes('-o'), 'port 25 listener must not enable SASL');

  for (const off of ['smtp', 'submission', 'smtps'] as const) {
    const m = renderPostfixMaster(settings((x) => { x.ports[off] = 0; }), view());
    const ports = m.split('\n').filter((l) => /^\S+\s+inet\s/.test(l)).map((l) => l.split(/\s+/)[0]);
    const expected = (['smtp', 'submission', 'smtps'] as const).filter((p) => p !== off).map((p) => String(A.ports[p]));
    assert.equal(ports, expected, `${off}=0`);
  }
});

test('brute force: features.fail2ban puts postscreen before port 25 and sets anvil, Dovecot auth log and delay', () => {
  const on = settings((x) => (x.ban.dnsbl = ['zen.spamhaus.org']));
  const master = renderPostfixMaster(on, view());
  assert.match(master, /^25\s+inet\s+n\s+-\s+n\s+-\s+1\s+postscreen$/m);
  assert.match(master, /^smtpd\s+pass\s+.*\ssmtpd$/m);
  assert.match(master, /^tlsproxy\s+unix\s/m);
  assert.match(master, /^dnsblog\s+unix\s/m);
  assert.not.match(master, /^25\s+inet\s.*\ssmtpd$/m);
  const main = renderPostfixMain(on, view(), { relayCredentials: false });
  assert.match(main, /^smtpd_client_connection_rate_limit = \d+$/m);
  assert.match(main, /^smtpd_client_auth_rate_limit = \d+$/m);
  assert.match(main, /^postscreen_greet_action = enforce$/m);
  assert.match(main, /^postscreen_dnsbl_sites = zen\.spamhaus\.org$/m);
  assert.match(main, /^postscreen_cache_map = btree:/m);
  // OpenWrt's Postfix has cdb only, which postscreen cannot write: no cache there.
  assert.match(renderPostfixMain(on, view('/srv/mailserver', 'cdb'), { relayCredentials: false }), /^postscreen_cache_map =$/m);
  const dovecot = renderDovecot(on, view());
  assert.match(dovecot, /^auth_verbose = yes$/m);
  assert.match(dovecot, /^auth_failure_delay = 2 secs$/m);
  assert.match(dovecot, /unix_listener anvil-auth-penalty \{\n\s+mode = 0/);

  const off = settings((x) => (x.features.fail2ban = false));
  assert.match(renderPostfixMaster(off, view()), /^25\s+inet\s+n\s+-\s+n\s+-\s+-\s+smtpd$/m);
  assert.not.match(renderPostfixMaster(off, view()), /postscreen/);
  assert.not.match(renderPostfixMain(off, view(), { relayCredentials: false }), /rate_limit|postscreen/);
  assert.not.match(renderDovecot(off, view()), /auth_verbose|anvil-auth-penalty/);
});

test('master.cf: no chroot anywhere, Debian internal services present', () => {
  const master = renderPostfixMaster(A, view());
  const rows = master.split('\n').filter((l) => /^[a-z0-9]/.test(l));
  for (const r of rows) assert.is(r.split(/\s+/)[4], 'n', `chroot column of: ${r}`);
  const names = rows.map((r) => `${r.split(/\s+/)[0]}/${r.split(/\s+/)[1]}`);
  for (const svc of ['pickup', 'cleanup', 'qmgr', 'tlsmgr', 'rewrite', 'bounce', 'defer', 'trace', 'verify', 'flush',
    'proxymap', 'proxywrite', 'smtp', 'relay', 'showq', 'error', 'retry', 'discard', 'local', 'virtual', 'lmtp',
    'anvil', 'scache']) {
    assert.ok(names.includes(`${svc}/unix`), `missing ${svc}`);
  }
  assert.match(master, /^postlog\s+unix-dgram\s+n\s+-\s+n\s+-\s+1\s+postlogd$/m);
});

test('dovecot.conf: each port in its listener; port 0 disables; protocols follow ports', () => {
  const s = settings((x) => {
    x.ports = { smtp: 25, submission: 587, smtps: 465, imap: 1143, imaps: 1993, pop3: 1110, pop3s: 1995, sieve: 14190 };
  });
  const conf = renderDovecot(s, view());
  const listener = (name: string): string | undefined =>
    new RegExp(`inet_listener ${name} \\{\\n\\s*port = (\\d+)`).exec(conf)?.[1];
  assert.is(listener('imap'), '1143');
  assert.is(listener('imaps'), '1993');
  assert.is(listener('pop3'), '1110');
  assert.is(listener('pop3s'), '1995');
  assert.is(listener('sieve'), '14190');
  assert.match(conf, /inet_listener imaps \{\n\s*port = 1993\n\s*ssl = yes/);
  assert.match(conf, /inet_listener pop3s \{\n\s*port = 1995\n\s*ssl = yes/);
  assert.is(settingsOf(conf).get('protocols'), 'imap lmtp pop3 sieve');
  for (const p of ['143', '993', '110', '995', '4190']) assert.not.match(conf, new RegExp(`port = ${p}\\b`));

  const noImap = renderDovecot(settings((x) => { x.ports.imap = 0; }), view());
  assert.match(noImap, /inet_listener imap \{\n\s*port = 0\n/);
  assert.match(noImap, /inet_listener imaps \{\n\s*port = 993\n/);

  const pop3sOnly = renderDovecot(settings((x) => { x.ports.pop3 = 0; }), view());
  assert.is(settingsOf(pop3sOnly).get('protocols'), 'imap lmtp pop3 sieve');
  assert.match(pop3sOnly, /inet_listener pop3 \{\n\s*port = 0\n/);

  const b = renderDovecot(B, view());
  assert.is(settingsOf(b).get('protocols'), 'imap lmtp');
  assert.not.match(b, /pop3|managesieve|sieve/);
  assert.is(settingsOf(b).get('listen'), '127.0.0.1');
  assert.is(settingsOf(conf).get('listen'), '*, ::');
});

test('main.cf: mynetworks is loopback hosts only, never 127.0.0.0/8', () => {
  for (const [s, creds] of [[A, false], [B, true], [settings((x) => { x.main.listen = ['192.168.1.1', 'fd00::1']; }), false]] as const) {
    const cf = settingsOf(renderPostfixMain(s, view(), { relayCredentials: creds }));
    assert.is(cf.get('mynetworks'), '127.0.0.1/32, [::1]/128');
    assert.is(cf.get('mynetworks_style'), 'host');
    assert.not.match(cf.get('mynetworks')!, /127\.0\.0\.0|\/8|192\.168/);
    assert.is(cf.get('mydestination'), '');
    assert.is(cf.get('smtpd_sasl_auth_enable'), 'no');
  }
});

test('main.cf: listen → inet_interfaces / inet_protocols', () => {
  const get = (listen: string[]): Map<string, string> =>
    settingsOf(renderPostfixMain(settings((x) => { x.main.listen = listen; }), view(), { relayCredentials: false }));
  assert.is(get([]).get('inet_interfaces'), 'all');
  assert.is(get([]).get('inet_protocols'), 'all');
  assert.is(get(['127.0.0.1']).get('inet_protocols'), 'ipv4');
  assert.is(get(['127.0.0.1', '::1']).get('inet_interfaces'), '127.0.0.1, [::1]');
  assert.is(get(['127.0.0.1', '[::1]']).get('inet_protocols'), 'all');
  assert.throws(() => get(['127.0.0.1, 10.0.0.1']), /listen/);
});

test('main.cf: relay credentials only with a relayhost, and only over TLS', () => {
  const noRelay = settingsOf(renderPostfixMain(A, view(), { relayCredentials: true }));
  assert.not.ok(noRelay.has('relayhost'));
  assert.not.ok(noRelay.has('smtp_sasl_password_maps'));
  assert.is(noRelay.get('smtp_tls_security_level'), 'may');

  const relayNoCreds = settingsOf(renderPostfixMain(B, view(), { relayCredentials: false }));
  assert.is(relayNoCreds.get('relayhost'), '[smtp.relay.test]:587');
  assert.not.ok(relayNoCreds.has('smtp_sasl_auth_enable'));

  const relay = settingsOf(renderPostfixMain(B, view(), { relayCredentials: true }));
  assert.is(relay.get('smtp_sasl_auth_enable'), 'yes');
  assert.is(relay.get('smtp_sasl_password_maps'), 'hash:/srv/mailserver/secrets/postfix/relay_passwd');
  // The relay's certificate is verified before the credentials go out: system CAs or main.relay_ca_file.
  assert.is(relay.get('smtp_tls_security_level'), 'secure');
  assert.is(relay.get('smtp_tls_CAfile'), SYSTEM_CA_BUNDLE);
  assert.is(relay.get('smtp_sasl_tls_security_options'), 'noanonymous');
  const ownCa = settingsOf(renderPostfixMain(settings((x) => { x.main.relayhost = '[smtp.relay.test]:587'; x.main.relayCaFile = '/etc/mailserver/relay-ca.pem'; }), view(), { relayCredentials: true }));
  assert.is(ownCa.get('smtp_tls_CAfile'), '/etc/mailserver/relay-ca.pem');
});

test('main.cf: smuggling closed with the value the installed Postfix takes; ETRN refused', () => {
  const cf = (version: string) => settingsOf(renderPostfixMain(A, { ...view(), postfixVersion: version }, { relayCredentials: false }));
  assert.is(bareNewlineSetting('3.7.11'), 'yes');
  assert.is(bareNewlineSetting('3.8.5'), 'yes');
  assert.is(bareNewlineSetting('3.8.4'), null);
  assert.is(bareNewlineSetting('3.9.0'), 'normal');
  assert.is(bareNewlineSetting('3.10.1'), 'normal');
  assert.is(bareNewlineSetting('4.0'), 'normal');
  assert.is(bareNewlineSetting('3.4.9'), null);
  assert.is(cf('3.7.11').get('smtpd_forbid_bare_newline'), 'yes');
  assert.is(cf('3.9.1').get('smtpd_forbid_bare_newline'), 'normal');
  assert.is(cf('3.9.1').get('smtpd_forbid_unauth_pipelining'), 'yes');
  // A release without the setting must not get it (unknown values are fatal to smtpd).
  assert.not.ok(cf('3.7.9').has('smtpd_forbid_bare_newline'));
  assert.is(cf('3.7.11').get('smtpd_etrn_restrictions'), 'reject');
});

test('dovecot.conf: Mozilla intermediate TLS (1.2+, ECDHE AEAD suites only)', () => {
  const d = settingsOf(renderDovecot(A, view()));
  assert.is(d.get('ssl_min_protocol'), 'TLSv1.2');
  assert.is(d.get('ssl_cipher_list'), INTERMEDIATE_CIPHERS);
  for (const c of INTERMEDIATE_CIPHERS.split(':')) assert.match(c, /^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
});

test('main.cf: map type and quota policy follow the view and features', () => {
  const cdb = settingsOf(renderPostfixMain(A, view('/x', 'cdb'), { relayCredentials: false }));
  assert.is(cdb.get('virtual_mailbox_maps'), 'cdb:/x/config/vmailbox');
  assert.is(cdb.get('smtpd_sender_login_maps'), 'cdb:/x/config/senders, regexp:/x/config/senders-self.regexp');
  assert.is(cdb.get('smtpd_recipient_restrictions'), 'reject_unlisted_recipient, check_policy_service unix:/x/run/dovecot/base/quota-status');
  const noQuota = settingsOf(renderPostfixMain(settings((x) => { x.features.quota = false; }), view(), { relayCredentials: false }));
  assert.is(noQuota.get('smtpd_recipient_restrictions'), 'reject_unlisted_recipient');
  const dq = renderDovecot(settings((x) => { x.features.quota = false; }), view());
  assert.not.match(dq, /quota/);
  const unlimited = renderDovecot(settings((x) => { x.features.quotaDefault = 0; }), view());
  assert.match(unlimited, /quota = count:User quota/);
  assert.not.match(unlimited, /quota_rule/);
});

test('a line break in a value throws', () => {
  const cases: [string, (s: Settings) => void][] = [
    ['hostname', (s) => { s.main.hostname = 'mail\nrelayhost = evil'; }],
    ['domain', (s) => { s.main.domain = 'example.com\r'; }],
    ['relayhost', (s) => { s.main.relayhost = '[a]:25\nsmtp_tls_security_level = none'; }],
    ['listen', (s) => { s.main.listen = ['127.0.0.1\n']; }],
    ['postmaster', (s) => { s.main.postmaster = 'pm\nx'; }],
  ];
  for (const [what, patch] of cases) {
    const s = settings(patch);
    assert.throws(() => {
      renderPostfixMain(s, view(), { relayCredentials: true });
      renderDovecot(s, view());
    }, /line break|whitespace|listen/, what);
  }
  const v = { ...view(), configDir: '/srv/x\nmydestination = evil' };
  assert.throws(() => renderPostfixMain(A, v, { relayCredentials: false }), /line break/);
  assert.throws(() => renderDovecot(A, v), /line break/);
  assert.throws(() => renderRelayPasswd('[a]:587', 'u', 'p\nq'), /line break/);
  assert.throws(() => renderRelayPasswd('[a]:587', 'u', ' pq'), /whitespace/);
  assert.throws(() => renderRelayPasswd('[a]:587', 'u v', 'pq'), /whitespace/);
  assert.is(renderRelayPasswd('[a]:587', 'u', 'p q'), '[a]:587 u:p q\n');
  assert.throws(() => renderRelayPasswd('[a]:587', 'u:x', 'p'), /":"/);
  assert.throws(() => renderVirtual(A, MAILBOXES, [{ alias: 'x@example.com', targets: ['a@b\nc'] }]), /bad map value/);
});

test('ports: out of range or shared ports are refused', () => {
  assert.throws(() => renderPostfixMaster(settings((s) => { s.ports.smtp = 70000; }), view()), /0\.\.65535/);
  assert.throws(() => renderDovecot(settings((s) => { s.ports.imap = 587; }), view()), /both 587/);
});

test('maps: catch-all does not swallow mailboxes; postmaster/abuse defaults; senders', () => {
  const virtual = renderVirtual(A, MAILBOXES, ALIASES);
  const lines = virtual.trimEnd().split('\n');
  assert.equal(lines, [...lines].sort(), 'sorted');
  const vmap = new Map(lines.map((l) => l.split(' ') as [string, string]));
  assert.is(vmap.get('@example.org'), 'carol@example.org');
  assert.is(vmap.get('carol@example.org'), 'carol@example.org');
  assert.is(vmap.get('bob@example.com'), undefined, 'no self entry where no catch-all can swallow the mailbox');
  assert.is(vmap.get('postmaster@example.com'), 'alice@example.com');
  assert.is(vmap.get('postmaster@example.org'), 'alice@example.com');
  assert.is(vmap.get('abuse@example.org'), 'alice@example.com');
  assert.is(vmap.get('abuse@example.com'), 'bob@example.com', 'explicit alias wins');
  assert.is(vmap.get('sales@example.com'), 'alice@example.com,Partner@partner.test');

  // postmaster is a mailbox itself → not aliased; postmaster@primary never maps onto itself.
  const pmBox = renderVirtual(settings((s) => { s.main.postmaster = 'postmaster'; }), [{ email: 'postmaster@example.com', quota: null }], []);
  assert.not.match(pmBox, /^postmaster@example\.com /m);
  assert.match(pmBox, /^abuse@example\.org postmaster@example\.com$/m);
  const pmNone = renderVirtual(settings((s) => { s.main.postmaster = 'postmaster'; }), [], []);
  assert.not.match(pmNone, /^postmaster@example\.com /m);

  const senders = new Map(renderSenders(A, MAILBOXES, ALIASES).trimEnd().split('\n').map((l) => l.split(' ') as [string, string]));
  assert.is(senders.get('alice@example.com'), undefined, 'mailboxes own themselves through the regexp table');
  // Postfix asks a regexp table only for the whole address: every +tag form is answered there.
  const self = (addr: string) => {
    for (const line of renderSendersSelf(A, MAILBOXES, ALIASES).trimEnd().split('\n')) {
      const [, pattern, result] = /^\/(.*)\/ (.*)$/.exec(line)!;
      const m = new RegExp(pattern!, 'i').exec(addr);
      if (m) return result!.replace(/\$\{(\d)\}/g, (_, i: string) => m[Number(i)]!);
    }
    return undefined;
  };
  assert.is(self('alice@example.com'), 'alice@example.com');
  assert.is(self('alice+news@example.com'), 'alice@example.com');
  assert.is(self('info+x@example.com'), 'alice@example.com,bob@example.com');
  assert.is(self('sales+a+b@example.com'), 'alice@example.com');
  assert.is(self('infoxx+x@example.com'), 'infoxx@example.com', 'an alias pattern matches that alias only');
  assert.is(senders.get('info@example.com'), 'alice@example.com,bob@example.com');
  assert.is(senders.get('sales@example.com'), 'alice@example.com', 'external targets do not own an alias');
  assert.is(senders.get('postmaster@example.org'), 'alice@example.com');
  assert.not.ok([...senders.keys()].some((k) => k.startsWith('@')), 'catch-all is nobody\'s sender');

  assert.is(renderVdomains(A, [], []), 'example.com OK\nexample.org OK\n');
  assert.is(renderVmailbox(A, MAILBOXES, []), 'alice@example.com example.com/alice/\nbob@example.com example.com/bob/\ncarol@example.org example.org/carol/\n');
  // Out of order or twice (a users file edited by hand): the same sorted lines, each address once.
  assert.is(renderVmailbox(A, [MAILBOXES[2]!, MAILBOXES[0]!, MAILBOXES[1]!, { email: 'ALICE@example.com', quota: null }], []), renderVmailbox(A, MAILBOXES, []));
  assert.throws(() => renderVmailbox(A, [{ email: 'eve smith@example.com', quota: null }], []), /bad map key "eve smith@example.com"/);
});

test('maps: a new mailbox the aliases say nothing about only adds its vmailbox line; each exception changes another map', () => {
  const s = settings((x) => (x.main.postmaster = 'boss'));
  const mailboxes: MailboxView[] = ['alice@example.com', 'bob@example.com', 'carol@example.org'].map((email) => ({ email, quota: null }));
  const aliases: AliasView[] = [
    { alias: 'sales@example.com', targets: ['bob@example.com'] },
    { alias: '@example.org', targets: ['alice@example.com'] },
    // A target that is no mailbox yet (a hand-edited valias, or a domain made local later).
    { alias: 'team@example.com', targets: ['zed@example.com', 'alice@example.com'] },
  ];
  const others = (boxes: MailboxView[]) => [renderVirtual, renderSenders, renderSendersSelf, renderSenderOwners, renderVdomains].map((r) => r(s, boxes, aliases));
  const withBox = (email: string) => [...mailboxes, { email, quota: null }].sort((a, b) => (a.email < b.email ? -1 : 1));
  for (const email of ['dave@example.com', 'aaron@example.com', 'zoe@example.com']) {
    assert.ok(newMailboxOnlyInVmailbox(s, email, aliases), email);
    assert.equal(others(withBox(email)), others(mailboxes), `${email}: no other map changes`);
    const lines = renderVmailbox(s, withBox(email)).split('\n');
    assert.equal(lines.filter((l) => !l.startsWith(`${email} `)).join('\n'), renderVmailbox(s, mailboxes), `${email}: vmailbox gains one line`);
  }
  // catch-all domain, alias target, implicit postmaster@ and abuse@, the postmaster address, a '+'.
  for (const email of ['erin@example.org', 'zed@example.com', 'postmaster@example.org', 'abuse@example.com', 'boss@example.com', 'a+b@example.com']) {
    assert.not.ok(newMailboxOnlyInVmailbox(s, email, aliases), email);
    assert.not.equal(others(withBox(email)), others(mailboxes), `${email}: another map changes, so it must go the general way`);
  }
});

test('dovecot: version gate and per-user quota field', () => {
  assertDovecotSupported('2.3.19.1 (9b53102964)');
  assertDovecotSupported('2.3.21');
  assert.throws(() => assertDovecotSupported('2.4.1-4 (7d8c0e5759)'), /Dovecot 2\.4 is not supported yet \(settings were renamed\); install Dovecot 2\.3/);
  assert.throws(() => assertDovecotSupported('3.0.0'), /not supported yet/);
  assert.throws(() => assertDovecotSupported('2.2.36'), /too old/);
  assert.throws(() => assertDovecotSupported('garbage'), /version/);
  assert.is(userdbQuotaField(A, { email: 'a@example.com', quota: null }), null);
  assert.is(userdbQuotaField(A, { email: 'a@example.com', quota: 0 }), 'userdb_quota_rule=*:storage=0');
  assert.is(userdbQuotaField(A, { email: 'a@example.com', quota: 5000 }), 'userdb_quota_rule=*:storage=5000B');
  assert.is(userdbQuotaField(settings((s) => { s.features.quota = false; }), { email: 'a@example.com', quota: 5 }), null);
});

// --- real check with the installed daemons ---------------------------------------------------

function run(argv: string[]): { status: number | null; out: string } {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Lines where a Postfix or Dovecot tool complains (service names like `error` are not complaints). */
function complaints(out: string): string[] {
  return out.split('\n').filter((l) => /\b(warning|fatal|panic)\b|\berror:/i.test(l));
}

function realCheck(label: string, s: Settings, relayCredentials: boolean): void {
  const root = mkdtempSync(join(tmpdir(), 'render-check-'));
  try {
    chmodSync(root, 0o755);
    const v = view(root);
    // data_directory is left to `postfix check` (it creates it owned by postfix); the queue
    // directory must exist (root, 0755) before Postfix will chdir into it.
    for (const d of [v.configDir, v.mailDir, v.sslDir, v.postfixConfigDir, v.postfixQueueDir, v.dovecotBaseDir,
      v.dovecotStateDir, v.logDir, dirname(v.dovecotConfigFile)]) {
      mkdirSync(d, { recursive: true, mode: 0o755 });
      chmodSync(d, 0o755);
    }
    mkdirSync(v.postfixSecretsDir, { recursive: true, mode: 0o700 });

    const files = rendered(s, v, relayCredentials);
    writeFileSync(join(v.postfixConfigDir, 'main.cf'), files['main.cf']!, { mode: 0o644 });
    writeFileSync(join(v.postfixConfigDir, 'master.cf'), files['master.cf']!, { mode: 0o644 });
    chownSync(join(v.postfixConfigDir, 'main.cf'), 0, 0);
    chownSync(join(v.postfixConfigDir, 'master.cf'), 0, 0);
    writeFileSync(v.dovecotConfigFile, files['dovecot.conf']!, { mode: 0o644 });

    const mapFiles: [string, string][] = Object.entries(maps(s)).map(([n, t]) => [join(v.configDir, n), t]);
    if (relayCredentials) {
      mapFiles.push([join(v.postfixSecretsDir, 'relay_passwd'), renderRelayPasswd(s.main.relayhost!, 'relayuser', 's3cr:et!')]);
    }
    for (const [file, text] of mapFiles) {
      writeFileSync(file, text, { mode: 0o600 });
      const pm = run(['postmap', '-c', v.postfixConfigDir, `${v.mapType}:${file}`]);
      assert.is(pm.status, 0, `${label}: postmap ${file}: ${pm.out}`);
      assert.equal(complaints(pm.out), [], `${label}: postmap ${file}`);
    }
    const q = (map: string, k: string): string =>
      run(['postmap', '-c', v.postfixConfigDir, '-q', k, `${v.mapType}:${join(v.configDir, map)}`]).out.trim();
    assert.is(q('virtual', 'Postmaster@Example.ORG'), 'alice@example.com', `${label}: postmap lookup`);
    assert.is(q('virtual', 'carol@example.org'), 'carol@example.org', `${label}: postmap lookup`);
    assert.is(q('vdomains', 'example.org'), 'OK', `${label}: postmap lookup`);
    // The sender-ownership regexp table as Postfix itself reads it.
    const selfTable = join(v.configDir, 'senders-self.regexp');
    writeFileSync(selfTable, renderSendersSelf(s, MAILBOXES, ALIASES));
    const owner = (k: string) => run(['postmap', '-c', v.postfixConfigDir, '-q', k, `regexp:${selfTable}`]).out.trim();
    assert.is(owner('Alice+News@example.com'), 'Alice@example.com', `${label}: regexp lookup`);
    assert.is(owner('info+x@example.com'), 'alice@example.com,bob@example.com', `${label}: regexp lookup`);
    assert.is(owner('carol@example.org'), 'carol@example.org', `${label}: regexp lookup`);

    const cert = run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-subj', '/CN=mail.example.com', '-days', '1',
      '-keyout', join(v.sslDir, 'privkey.pem'), '-out', join(v.sslDir, 'fullchain.pem')]);
    assert.is(cert.status, 0, `openssl: ${cert.out}`);

    const postconf = run(['postconf', '-c', v.postfixConfigDir, '-n']);
    assert.is(postconf.status, 0, `${label}: postconf -n: ${postconf.out}`);
    assert.equal(complaints(postconf.out), [], `${label}: postconf -n printed:\n${postconf.out}`);
    // postconf sees what we meant
    const effective = settingsOf(postconf.out);
    assert.is(effective.get('mynetworks'), '127.0.0.1/32, [::1]/128');
    assert.is(effective.get('myhostname'), 'mail.example.com');

    // Without a terminal on stderr, Postfix reports into maillog_file: read it too.
    const check = run(['postfix', '-c', v.postfixConfigDir, 'check']);
    const maillog = existsSync(join(v.logDir, 'mail.log')) ? readFileSync(join(v.logDir, 'mail.log'), 'utf8') : '';
    assert.is(check.status, 0, `${label}: postfix check: ${check.out}${maillog}`);
    assert.equal(complaints(check.out), [], `${label}: postfix check printed:\n${check.out}`);
    assert.equal(complaints(maillog), [], `${label}: postfix check logged:\n${maillog}`);

    const master = run(['postconf', '-c', v.postfixConfigDir, '-M']);
    assert.is(master.status, 0, `${label}: postconf -M: ${master.out}`);
    assert.equal(complaints(master.out), [], `${label}: postconf -M printed:\n${master.out}`);

    const dove = run(['doveconf', '-c', v.dovecotConfigFile, '-n']);
    assert.is(dove.status, 0, `${label}: doveconf -n: ${dove.out}`);
    assert.equal(complaints(dove.out), [], `${label}: doveconf -n printed:\n${dove.out}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('real check (a): postconf, postfix check, postmap, doveconf accept the defaults', () => {
  realCheck('defaults', A, false);
});

test('real check (b): pop3/sieve off, relay with credentials, loopback listen', () => {
  realCheck('relay-loopback', B, true);
});

test.run();
