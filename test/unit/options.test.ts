// No option without an effect. Every option of the package's UCI file and of the README's
// Configuration table (both parsed here, so a newly documented option is picked up) needs an
// entry below, and its flip must change something observable:
// - `flip(value, base?)`: the pure outputs (every renderer, the expected DNS records, the data
//   layout, key expiry, status's notices about options not implemented yet) differ between base
//   and base + flip.
// - `provenBy(file, title)`: the effect is behaviour a named test proves (ACME, DNS publication,
//   the init script); that test must exist and mention the option.
// Adding an option = one line here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUci, setOption, getOption, type UciPackage } from '../../src-rpc/config/uci.ts';
import { settingsFrom } from '../../src-rpc/config/load.ts';
import { unimplementedOptionNotices } from '../../src-rpc/config/notices.ts';
import { layoutFor } from '../../src-rpc/core/layout.ts';
import { renderPostfixMain } from '../../src-rpc/render/postfix-main.ts';
import { renderPostfixMaster } from '../../src-rpc/render/postfix-master.ts';
import { renderDovecot } from '../../src-rpc/render/dovecot.ts';
import { renderVdomains, renderVmailbox, renderVirtual, renderSenders } from '../../src-rpc/render/maps.ts';
import { renderRspamd } from '../../src-rpc/render/rspamd.ts';
import { renderOpendkim } from '../../src-rpc/render/opendkim.ts';
import { renderClamav, renderRspamdAntivirus, clamavMilterAddress, type ClamavView } from '../../src-rpc/render/clamav.ts';
import { expectedRecords } from '../../src-rpc/dns/records.ts';
import { newSelector, expiredKeys } from '../../src-rpc/dkim/keys.ts';
import { certificateNames } from '../../src-rpc/ssl/certificates.ts';
import { milterAddress, opendkimInstances, wantedMilter } from '../../src-rpc/runtime/signing.ts';
import { renderLxcConfig } from '../../src-rpc/render/lxc.ts';
import { rootfsCommand } from '../../src-rpc/runtime/lxc-image.ts';
import type { Settings } from '../../src-rpc/config/settings.ts';
import type { RuntimeView } from '../../src-rpc/render/view.ts';

const repo = join(import.meta.dirname, '..', '..');

type Effect = { flip: string; base: Record<string, string> } | { provenBy: string; title: string };
const flip = (value: string, base: Record<string, string> = {}): Effect => ({ flip: value, base });
const provenBy = (file: string, title: string): Effect => ({ provenBy: file, title });

const EFFECTS: Record<string, Effect> = {
  'main.enabled': provenBy('test/integration/package.test.ts', 'the init script is a procd service running the daemons (or the container) in the foreground'),
  'main.hostname': flip('mx'),
  'main.domain': flip('example.org'),
  'main.postmaster': flip('hostmaster'),
  'main.data_path': flip('/srv/mail2'),
  'main.container': flip('other', { 'main.runtime': 'lxc' }),
  'main.runtime': flip('host'),
  'main.listen': flip('127.0.0.1'),
  'main.extra_domain': flip('example.net'),
  'main.relayhost': flip('[relay.example.net]:587'),
  'main.public_ip': flip('198.51.100.7'),
  'main.public_ip6': flip('2001:db8::7'),
  'ports.smtp': flip('2525'),
  'ports.submission': flip('0'),
  'ports.smtps': flip('0'),
  'ports.imap': flip('0'),
  'ports.imaps': flip('0'),
  'ports.pop3': flip('0'),
  'ports.pop3s': flip('0'),
  'ports.sieve': flip('0'),
  'features.spam_filter': flip('0'),
  'features.virus_scan': flip('1'),
  'features.virus_mirror': flip('http://127.0.0.1:9', { 'features.virus_scan': '1' }),
  'features.dkim': flip('0'),
  'features.spf': flip('0'),
  'features.dmarc': flip('0'),
  'features.fail2ban': flip('0'),
  'features.quota': flip('0'),
  'features.quota_default': flip('2G'),
  'features.spam_remote': flip('0'),
  'ssl.type': provenBy('test/system/tls.test.ts', 'ssl.type manual: a key that does not match its certificate is refused; a matching pair is installed and served'),
  'ssl.cert_path': provenBy('test/system/tls.test.ts', 'ssl.type manual: a key that does not match its certificate is refused; a matching pair is installed and served'),
  'ssl.key_path': provenBy('test/system/tls.test.ts', 'ssl.type manual: a key that does not match its certificate is refused; a matching pair is installed and served'),
  'ssl.acme_directory': provenBy('test/system/tls.test.ts', "ssl-setup against Pebble + BIND issues a certificate; every TLS listener presents it, chain verified against Pebble's root"),
  'ssl.acme_email': provenBy('test/system/tls.test.ts', "ssl-setup against Pebble + BIND issues a certificate; every TLS listener presents it, chain verified against Pebble's root"),
  'ssl.key_type': provenBy('test/system/tls.test.ts', 'RSA keys on request, and through the rpcd door ssl_setup is a job'),
  'ssl.renew_days': provenBy('test/system/tls.test.ts', 'ssl-renew renews only when fewer than ssl.renew_days remain; mailctl tick calls it'),
  'ssl.extra_name': flip('webmail.example.com'),
  'webmail.enabled': provenBy('test/system/webmail.test.ts', 'webmail.enabled 0: configure refuses, naming the option, and leaves Roundcube as it was'),
  'webmail.container': flip('other-webmail'),
  'webmail.port': provenBy('test/system/webmail.test.ts', "status: installed and answering, but not pointed at us (Debian's own settings)"),
  'webmail.config_path': provenBy('test/system/webmail.test.ts', 'status: Roundcube not installed; configure refuses and creates nothing'),
  'webmail.log_path': provenBy('test/system/webmail.test.ts', "a wrong password is refused, and status shows the failed login from Roundcube\\'s log"),
  'webmail.product_name': provenBy('test/system/webmail.test.ts', 'status: a changed setting makes our block stale until configure runs again'),
  'webmail.url': provenBy('test/system/webmail.test.ts', "status: installed and answering, but not pointed at us (Debian's own settings)"),
  'autoconfig.enabled': provenBy('test/system/webmail.test.ts', "Thunderbird's autoconfig document parses as Thunderbird requires; every server it names accepts alice"),
  'autoconfig.docroot': provenBy('test/system/webmail.test.ts', "Thunderbird's autoconfig document parses as Thunderbird requires; every server it names accepts alice"),
  'ban.max_failures': provenBy('test/system/bans.test.ts', 'N failed SMTP AUTH attempts ban the address; parallel connections do not beat the limit; another address still logs in'),
  'ban.find_time': provenBy('test/system/bans.test.ts', 'N failed IMAP logins ban the address; the ban expires by itself'),
  'ban.ban_time': provenBy('test/system/bans.test.ts', 'N failed IMAP logins ban the address; the ban expires by itself'),
  'ban.allow': provenBy('test/system/bans.test.ts', 'allow-listed networks and the router itself are never banned'),
  'ban.dnsbl': flip('zen.spamhaus.org'),
  'main.relay_ca_file': flip('/etc/ssl/relay-ca.pem', { 'main.relayhost': '[relay.example.net]:587' }),
  'main.worker_idle': provenBy('test/integration/warm-worker.test.ts', 'an idle worker exits after main.worker_idle seconds; 0 starts none'),
  'mesh.enabled': provenBy('test/system/mesh-sync.test.ts', 'tick starts a push (a job) once mesh.sync_interval has passed since the last one'),
  'mesh.sync_interval': provenBy('test/system/mesh-sync.test.ts', 'tick starts a push (a job) once mesh.sync_interval has passed since the last one'),
  'dns.provider': provenBy('test/system/dns.test.ts', 'manual: dns-setup publishes nothing and prints exactly what is missing or different, in zone-file form'),
  'dns.zone': flip('mail.example.com'),
  'dns.ttl': flip('600'),
  'dns.server': provenBy('test/system/dns.test.ts', 'a DNS server that does not answer: every record times out, the check ends in seconds and fails'),
  'dns.resolver': flip('127.0.0.1:5353', { 'features.spam_filter': '1' }),
  'dns.wait': provenBy('test/system/dns.test.ts', 'nsupdate: dns-setup publishes every expected record; dig sees them; dns-check is all ok; a second run changes nothing'),
  'dns.spf_policy': flip('-all'),
  'dns.dmarc_policy': flip('reject'),
  'dns.dmarc_rua': flip('reports@example.com'),
  'dns.dkim_selector': flip('key1'),
  'dns.dkim_algorithms': flip('rsa ed25519'),
  'dns.dkim_grace_days': flip('30'),
  'lxc.path': flip('/opt/lxc'),
  'lxc.memory_limit': flip('256M'),
  'lxc.network': flip('veth'),
  'lxc.bridge': flip('br-mail', { 'lxc.network': 'veth' }),
  'lxc.address': flip('192.168.1.25/24', { 'lxc.network': 'veth' }),
  'lxc.gateway': flip('192.168.1.1', { 'lxc.network': 'veth', 'lxc.address': '192.168.1.25/24' }),
  'lxc.rootfs': flip('debootstrap'),
  'lxc.distribution': flip('alpine'),
  'lxc.release': flip('trixie'),
  'lxc.arch': flip('arm64'),
  'lxc.mirror': flip('http://ftp.fr.debian.org/debian', { 'lxc.rootfs': 'debootstrap' }),
  'lxc.autostart': flip('0'),
};

/** `section.option` of every option the package's default UCI file sets. */
function packageOptions(): string[] {
  const uci = parseUci(readFileSync(join(repo, 'files/etc/config/mailserver'), 'utf8'));
  return uci.sections.flatMap((s) => [...s.options.keys()].map((o) => `${s.name}.${o}`));
}

/** Options of the README's Configuration table: `a.b / c (list)` names a.b and a.c; `ports.*` every port. */
function documentedOptions(): string[] {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('\n## Configuration')).split('\n## ')[1]!;
  const out: string[] = [];
  for (const row of table.split('\n').filter((l) => /^\| *[a-z_]+\.[a-z_*]/.test(l))) {
    const cell = row.split('|')[1]!.replace(/\(list\)/g, '').trim();
    const [first, ...rest] = cell.split('/').map((x) => x.trim());
    const [section, option] = first!.split('.');
    for (const o of [option!, ...rest]) {
      if (o === '*') out.push(...packageOptions().filter((x) => x.startsWith(`${section}.`)));
      else out.push(`${section}.${o}`);
    }
  }
  return out;
}

// The package file has no dns section (every dns option has a default): add an empty one to set options in.
const DEFAULTS = `${readFileSync(join(repo, 'files/etc/config/mailserver'), 'utf8')}\nconfig dns 'dns'\n`;

function settingsWith(values: Record<string, string>): Settings {
  const uci: UciPackage = parseUci(DEFAULTS);
  for (const [key, value] of Object.entries(values)) {
    const [section, option] = key.split('.') as [string, string];
    const current = getOption(uci, section, option);
    setOption(uci, section, option, Array.isArray(current) || /\b(listen|extra_domain|zone|extra_name)$/.test(option) ? [value] : value);
  }
  return settingsFrom(uci);
}

const view: RuntimeView = {
  configDir: '/srv/mailserver/config', mailDir: '/srv/mailserver/mail', sslDir: '/srv/mailserver/ssl', postfixSecretsDir: '/srv/mailserver/secrets/postfix',
  postfixConfigDir: '/srv/mailserver/config/postfix', postfixQueueDir: '/srv/mailserver/state/postfix', postfixDataDir: '/srv/mailserver/state/postfix-data',
  dovecotConfigFile: '/srv/mailserver/config/dovecot/dovecot.conf', dovecotBaseDir: '/var/run/mailserver/dovecot', dovecotStateDir: '/srv/mailserver/state/dovecot',
  logDir: '/var/log/mailserver', mailUid: 5000, mailGid: 5000, mapType: 'cdb', postfixVersion: '3.7.11',
};
const RSPAMD_SOCKETS = {
  milterSocket: '/var/run/mailserver/rspamd-milter/milter.sock', milterGroup: 'postfix', controllerSocket: '/var/run/mailserver/rspamd/controller.sock',
  normalSocket: '/var/run/mailserver/rspamd/normal.sock', user: '_rspamd', senderOwnersFile: '/srv/mailserver/config/sender-owners',
};

/** Everything the settings decide that a test can see without daemons. */
function observe(s: Settings): unknown {
  const container = s.main.runtime === 'lxc'
    ? {
        config: renderLxcConfig(s.lxc, { name: s.main.container, rootfs: `${s.lxc.path}/${s.main.container}/rootfs`, mounts: [], cgroupVersion: 2, logFile: '/var/log/lxc.log' }),
        rootfs: rootfsCommand(s.lxc, s.lxc.arch ?? 'amd64', { dir: `${s.lxc.path}/${s.main.container}/rootfs`, lxcPath: s.lxc.path, scratch: 'scratch' }),
      }
    : null;
  const mailboxes = [{ email: `alice@${s.main.domain}`, quota: null }];
  const aliases = [{ alias: `info@${s.main.domain}`, targets: [`alice@${s.main.domain}`] }];
  const now = new Date('2026-01-01T00:00:00Z');
  const keys = s.dns.dkimAlgorithms.map((algorithm) => ({ domain: s.main.domain, algorithm, selector: newSelector(s.dns.dkimSelector, algorithm, [], now, false) }));
  const signing = keys.map((k) => ({ ...k, path: `/srv/mailserver/secrets/dkim/${k.domain}/${k.selector}.pem` }));
  const clamav: ClamavView = { user: 'clamav', databaseDir: '/srv/mailserver/state/clamav', clamdRunDir: '/var/run/mailserver/clamd', milterRunDir: '/var/run/mailserver/clamav-milter', logDir: view.logDir, clamdConfigFile: '/srv/mailserver/config/clamav/clamd.conf', milterForeground: true };
  const milters = [milterAddress(s, layoutFor(s)), clamavMilterAddress(s, clamav)].filter((m) => m !== undefined).join(', ') || undefined;
  const retiring = { ...keys[0]!, publicKey: 'AAAA', state: 'retiring' as const, created: '2025-01-01T00:00:00Z', retired: '2025-12-10T00:00:00Z' };
  return {
    container,
    mainCf: renderPostfixMain(s, view, { relayCredentials: true, milter: milters }),
    masterCf: renderPostfixMaster(s, view),
    dovecot: renderDovecot(s, view),
    maps: [renderVdomains(s), renderVmailbox(s, mailboxes), renderVirtual(s, mailboxes, aliases), renderSenders(s, mailboxes, aliases)],
    rspamd: wantedMilter(s) === 'rspamd' ? { ...renderRspamd(s, { logFile: '/var/log/mailserver/rspamd.log', nameservers: [s.dns.resolver ?? '127.0.0.1:53'], keys: signing, ...RSPAMD_SOCKETS }), ...renderRspamdAntivirus(s, clamav) } : null,
    opendkim: wantedMilter(s) === 'opendkim' ? renderOpendkim({ configDir: '/c', runDir: '/r', senderOwnersFile: '/o', user: 'opendkim', instances: opendkimInstances(s), keys: signing }) : null,
    clamav: s.features.virusScan ? renderClamav(s, clamav) : null,
    dns: expectedRecords(s, { ip4: s.main.publicIp ?? '192.0.2.1', ip6: s.main.publicIp6, problems: [] }, keys.map((k) => ({ ...k, publicKey: 'AAAA', state: 'active' as const }))),
    certificateNames: certificateNames(s),
    dkimExpired: expiredKeys([retiring], s.dns.dkimGraceDays, now).length,
    layout: layoutFor(s),
    notices: unimplementedOptionNotices(s),
  };
}

test('every option of the package file and of the README table has an effect entry', () => {
  const options = [...new Set([...packageOptions(), ...documentedOptions()])].sort();
  assert.ok(options.length > 40, `only ${options.length} options found: is the parsing still right?`);
  assert.equal(options.filter((o) => !(o in EFFECTS)), [], 'options without an effect entry (add one line to EFFECTS)');
  // An entry for an option nobody documents is a sign of a rename.
  assert.equal(Object.keys(EFFECTS).filter((o) => !options.includes(o)).sort(), [], 'effect entries for options that are neither in the package file nor in the README');
});

// The bundle keeps the last settings as JSON for the next process (config/load.ts, sys/run-memo.ts):
// what it reads back must be the very settings, with every option set as well as with none.
test('the settings read back from JSON as they were, with every option flipped and with none', () => {
  const flips = Object.entries(EFFECTS).flatMap(([option, e]) => ('flip' in e ? [{ ...e.base, [option]: e.flip }] : []));
  for (const values of [{}, ...flips]) {
    const s = settingsWith(values);
    assert.equal(JSON.parse(JSON.stringify(s)), s, JSON.stringify(values));
  }
});

for (const [option, effect] of Object.entries(EFFECTS)) {
  if ('flip' in effect) {
    test(`${option}=${effect.flip} changes what the server does`, () => {
      const base = settingsWith(effect.base);
      const flipped = settingsWith({ ...effect.base, [option]: effect.flip });
      const before = JSON.stringify(observe(base));
      const after = JSON.stringify(observe(flipped));
      assert.ok(before !== after, `${option}: flipping to '${effect.flip}' changed nothing observable`);
    });
  } else {
    test(`${option}: its effect is proven by "${effect.title}"`, () => {
      const text = readFileSync(join(repo, effect.provenBy), 'utf8');
      assert.ok(text.includes(`test(${JSON.stringify(effect.title)}`) || text.includes(`test('${effect.title}'`), `${effect.provenBy} has no test "${effect.title}"`);
      const name = option.split('.')[1]!;
      assert.ok(text.includes(name), `${effect.provenBy} never mentions ${name}`);
    });
  }
}

test.run();
