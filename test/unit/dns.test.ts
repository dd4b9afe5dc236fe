// DNS records, their presentation and checks, DNS option validation, and the signing daemons'
// renderers (golden files, UPDATE_GOLDEN=1 rewrites them). Pure functions only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settingsFrom } from '../../src-rpc/config/load.ts';
import { parseUci } from '../../src-rpc/config/uci.ts';
import { expectedRecords, txtStrings, zoneLine, addressProblem, zoneOf, relativeName, formatTable, type DkimKeyView } from '../../src-rpc/dns/records.ts';
import { checkSpf, checkDmarc, dkimKeyOf } from '../../src-rpc/dns/syntax.ts';
import { dkimSelector, dkimAlgorithms, serverAddress, tsigSecret, tsigName } from '../../src-rpc/dns/validate.ts';
import { parseTsigKey, renderTsigKey } from '../../src-rpc/dns/providers.ts';
import { newSelector, expiredKeys, type DkimKey } from '../../src-rpc/dkim/keys.ts';
import { generateDkimKey, dkimPublicKey, rspamdEd25519Key } from '../../src-rpc/sys/crypto.ts';
import { renderRspamd } from '../../src-rpc/render/rspamd.ts';
import { renderOpendkim } from '../../src-rpc/render/opendkim.ts';
import { renderPostfixMain } from '../../src-rpc/render/postfix-main.ts';
import type { RuntimeView } from '../../src-rpc/render/view.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'render', 'signing');

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.fixture(actual, readFileSync(file, 'utf8'), name);
}

const uci = (dns = '', main = '', features = '') =>
  settingsFrom(parseUci(`config mailserver 'main'\n\toption domain 'example.com'\n\tlist extra_domain 'example.org'\n${main}\nconfig features 'features'\n${features}\nconfig dns 'dns'\n${dns}\n`));

const KEY = (domain: string, selector: string, algorithm: 'rsa' | 'ed25519', state: DkimKeyView['state'] = 'active'): DkimKeyView => ({ domain, selector, algorithm, publicKey: algorithm === 'rsa' ? 'A'.repeat(392) : 'B'.repeat(43) + '=', state });
const ADDR = { ip4: '192.0.2.10', ip6: '2001:db8::10', problems: [] };

test('expected records: A/AAAA, MX, SPF, DMARC, DKIM per key, TLS-RPT, SRV per domain', () => {
  const s = uci();
  const rs = expectedRecords(s, ADDR, [KEY('example.com', 'mail', 'rsa'), KEY('example.com', 'mail-ed25519', 'ed25519'), KEY('example.org', 'mail', 'rsa')]);
  const lines = rs.map((r) => `${r.type} ${r.name} ${r.kind === 'dkim' ? r.value.slice(0, 40) : r.value}`);
  assert.ok(lines.includes('A mail.example.com 192.0.2.10'));
  assert.ok(lines.includes('AAAA mail.example.com 2001:db8::10'));
  for (const d of ['example.com', 'example.org']) {
    assert.ok(lines.includes(`MX ${d} 10 mail.example.com.`), d);
    assert.ok(lines.includes(`TXT ${d} v=spf1 mx a:mail.example.com ~all`), d);
    assert.ok(lines.includes(`TXT _dmarc.${d} v=DMARC1; p=none; rua=mailto:postmaster@${d}`), d);
    assert.ok(lines.includes(`TXT _smtp._tls.${d} v=TLSRPTv1; rua=mailto:postmaster@${d}`), d);
    assert.ok(lines.includes(`SRV _submission._tcp.${d} 0 1 587 mail.example.com.`), d);
    assert.ok(lines.includes(`SRV _imaps._tcp.${d} 0 1 993 mail.example.com.`), d);
    assert.ok(lines.includes(`SRV _pop3s._tcp.${d} 10 1 995 mail.example.com.`), d);
  }
  assert.ok(rs.some((r) => r.name === 'mail-ed25519._domainkey.example.com' && r.value === `v=DKIM1; k=ed25519; p=${'B'.repeat(43)}=`));
  assert.is(rs.filter((r) => r.kind === 'dkim').length, 3);
  assert.is(rs.find((r) => r.kind === 'spf')!.owns, 'spf');
  assert.ok(rs.filter((r) => r.kind !== 'spf').every((r) => r.owns === 'rrset'));
});

test('expected records follow features, ports and options', () => {
  const s = uci("\toption spf_policy '-all'\n\toption dmarc_policy 'reject'\n\toption dmarc_rua 'reports@example.org'\n\toption ttl '600'", '', "\toption dkim '0'\n\toption spf '0'");
  s.ports.pop3s = 0;
  const rs = expectedRecords(s, { ip4: '192.0.2.10', ip6: null, problems: [] }, [KEY('example.com', 'mail', 'rsa')]);
  assert.not.ok(rs.some((r) => r.kind === 'spf' || r.kind === 'dkim' || r.type === 'AAAA' || r.name.startsWith('_pop3s')));
  assert.ok(rs.every((r) => r.ttl === 600));
  assert.ok(rs.some((r) => r.name === '_dmarc.example.com' && r.value === 'v=DMARC1; p=reject; rua=mailto:reports@example.org'));
  // reports for example.com go to example.org: example.org must consent (RFC 7489 7.1)
  assert.ok(rs.some((r) => r.name === 'example.com._report._dmarc.example.org' && r.value === 'v=DMARC1'));
  assert.not.ok(rs.some((r) => r.name === 'example.org._report._dmarc.example.org'));
});

test('zones: longest configured zone; none outside; relative names for dnsctl', () => {
  const s = uci("\tlist zone 'example.com'\n\tlist zone 'sub.example.com'", "\toption hostname 'mx.other.net'");
  assert.is(zoneOf(s, 'a.sub.example.com'), 'sub.example.com');
  assert.is(zoneOf(s, 'example.com'), 'example.com');
  assert.is(zoneOf(s, 'example.org'), null);
  assert.is(zoneOf(uci(), 'example.org'), 'example.org');
  assert.is(relativeName('example.com', 'example.com'), '@');
  assert.is(relativeName('_dmarc.example.com', 'example.com'), '_dmarc');
  const a = expectedRecords(s, ADDR, []).find((r) => r.type === 'A')!;
  assert.equal([a.name, a.zone], ['mx.other.net', null]);
});

test('TXT values are split into strings of at most 255 bytes, quoted for zone files', () => {
  const long = `v=DKIM1; k=rsa; p=${'x'.repeat(600)}`;
  const parts = txtStrings(long);
  assert.equal(parts.map((p) => p.length), [255, 255, 108]);
  assert.is(parts.join(''), long);
  assert.equal(txtStrings('é'.repeat(200)).map((p) => Buffer.byteLength(p)), [254, 146]);
  assert.is(zoneLine({ name: 'example.com', type: 'TXT', value: 'say "hi" \\o/', ttl: 300 }), 'example.com. 300 IN TXT "say \\"hi\\" \\\\o/"');
  assert.is(zoneLine({ name: 'example.com', type: 'MX', value: '10 mail.example.com.', ttl: 300 }), 'example.com. 300 IN MX 10 mail.example.com.');
  assert.match(formatTable(expectedRecords(uci(), ADDR, [])), /^TYPE +NAME +VALUE\nA +mail\.example\.com +192\.0\.2\.10$/m);
});

test('addresses: private, CGNAT, loopback and link-local are problems; public and documentation ones are not', () => {
  for (const a of ['10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254', '127.0.0.1', '169.254.1.1', '0.1.2.3', '224.0.0.1', 'fd00::1', 'fe80::1', '::1', '::ffff:10.0.0.1']) {
    assert.ok(addressProblem(a), a);
  }
  assert.match(addressProblem('100.64.0.1')!, /carrier-grade NAT/);
  for (const a of ['192.0.2.10', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:db8::1', '2a01:4f8::1']) assert.is(addressProblem(a), null, a);
});

test('SPF: syntax, host coverage, the all term, lookup limit', () => {
  assert.equal(checkSpf('v=spf1 mx a:mail.example.com ~all', 'mail.example.com', null), { problems: [], all: '~all', coversHost: true });
  assert.is(checkSpf('v=spf1 ip4:192.0.2.10 -all', 'mail.example.com', '192.0.2.10').coversHost, true);
  assert.is(checkSpf('v=spf1 include:_spf.example.net -all', 'mail.example.com', null).coversHost, false);
  assert.match(checkSpf('v=spf1 mx bogus ~all', 'h', null).problems[0]!, /unknown term "bogus"/);
  assert.match(checkSpf('v=spf1 +all', 'h', null).problems.join(), /anyone/);
  assert.match(checkSpf(`v=spf1 ${Array.from({ length: 11 }, (_, i) => `include:i${i}.example`).join(' ')} ~all`, 'h', null).problems.join(), /11 DNS lookups/);
});

test('DMARC and DKIM record parsing', () => {
  assert.equal(checkDmarc('v=DMARC1; p=reject; rua=mailto:a@example.com'), { problems: [], policy: 'reject', rua: 'mailto:a@example.com' });
  assert.match(checkDmarc('v=DMARC1; rua=mailto:a@example.com').problems.join(), /no p= policy/);
  assert.match(checkDmarc('v=DMARC1; p=block').problems.join(), /p=block is not/);
  assert.match(checkDmarc('p=none; v=DMARC1').problems.join(), /must start with v=DMARC1/);
  assert.match(checkDmarc('v=DMARC1; p=none; rua=http://x').problems.join(), /not a mailto/);
  assert.equal(dkimKeyOf('v=DKIM1; k=ed25519; p=abc='), { algorithm: 'ed25519', publicKey: 'abc=' });
  assert.equal(dkimKeyOf('p=MII BIj'), { algorithm: 'rsa', publicKey: 'MIIBIj' });
  assert.is(dkimKeyOf('v=spf1 mx'), null);
});

test('DNS options and TSIG keys are validated', () => {
  assert.is(dkimSelector('f', 'Mail-2024'), 'mail-2024');
  for (const bad of ['', '-x', 'a_b', 'a.b', 'x'.repeat(41)]) assert.throws(() => dkimSelector('f', bad), /not a DKIM selector|required/);
  assert.equal(dkimAlgorithms('f', 'ed25519 rsa'), ['rsa', 'ed25519']);
  assert.throws(() => dkimAlgorithms('f', ''), /at least one/);
  assert.is(serverAddress('f', '127.0.0.1:5353', false), '127.0.0.1:5353');
  assert.is(serverAddress('f', 'ns1.example.com', true), 'ns1.example.com');
  assert.is(serverAddress('f', '2001:db8::1', false), '2001:db8::1');
  assert.is(serverAddress('f', '[2001:db8::1]:53', false), '[2001:db8::1]:53');
  assert.throws(() => serverAddress('f', 'ns1.example.com', false), /must be an IP address/);
  assert.throws(() => tsigSecret('f', 'not base64!'), /not base64/);
  assert.throws(() => tsigSecret('f', 'c2hvcnQ='), /too short/);
  assert.throws(() => tsigName('f', 'bad name'), /not a TSIG key name/);
  const key = { name: 'tsig-test', algorithm: 'hmac-sha256' as const, secret: Buffer.alloc(32, 1).toString('base64') };
  assert.equal(parseTsigKey(renderTsigKey(key)), key);
  assert.throws(() => parseTsigKey('key "k" { algorithm hmac-rot13; secret "AAAA"; };'), /not one of/);
  assert.throws(() => parseTsigKey('garbage'), /not a TSIG key file/);
  assert.throws(() => uci("\toption dkim_grace_days '-1'"), /dns\.dkim_grace_days/);
  assert.throws(() => uci("\toption provider 'route53'"), /dns\.provider: expected one of manual, dnsctl, nsupdate/);
  assert.throws(() => uci('', "\toption public_ip '2001:db8::1'"), /main\.public_ip: .*not an IPv4 address/);
});

test('DKIM keys: the p= forms, rspamd\'s ed25519 format, selectors, grace expiry', () => {
  const rsa = generateDkimKey('rsa', 1024);
  assert.match(rsa.publicKey, /^MIGfMA0GCSqGSIb3DQEBAQUAA4GNAD/);
  const ed = generateDkimKey('ed25519');
  assert.is(Buffer.from(ed.publicKey, 'base64').length, 32);
  assert.is(dkimPublicKey(ed.privatePem), ed.publicKey);
  const raw = Buffer.from(rspamdEd25519Key(ed.privatePem).trim(), 'base64');
  assert.is(raw.length, 64);
  assert.is(raw.subarray(32).toString('base64'), ed.publicKey);
  const day = new Date('2026-03-04T05:06:07Z');
  assert.is(newSelector('mail', 'rsa', [], day, false), 'mail');
  assert.is(newSelector('mail', 'ed25519', ['mail'], day, false), 'mail-ed25519');
  assert.is(newSelector('mail', 'rsa', ['mail'], day, true), 'mail-20260304');
  assert.is(newSelector('mail', 'ed25519', ['mail-20260304-ed25519'], day, true), 'mail-20260304b-ed25519');
  const k = (retired: string): DkimKey => ({ ...KEY('example.com', 's', 'rsa', 'retiring'), created: retired, retired });
  assert.is(expiredKeys([k('2026-03-01T00:00:00Z')], 7, new Date('2026-03-07T23:00:00Z')).length, 0);
  assert.is(expiredKeys([k('2026-03-01T00:00:00Z')], 7, new Date('2026-03-08T00:00:00Z')).length, 1);
  assert.is(expiredKeys([{ ...k('2026-03-01T00:00:00Z'), state: 'active' }], 0).length, 0);
});

const KEYS = [
  { domain: 'example.com', selector: 'mail', algorithm: 'rsa' as const, path: '/srv/mailserver/secrets/dkim/example.com/mail.pem' },
  { domain: 'example.com', selector: 'mail-ed25519', algorithm: 'ed25519' as const, path: '/srv/mailserver/secrets/dkim/example.com/mail-ed25519.rspamd' },
  { domain: 'example.org', selector: 'mail', algorithm: 'rsa' as const, path: '/srv/mailserver/secrets/dkim/example.org/mail.pem' },
];

const RSPAMD_SOCKETS = {
  milterSocket: '/var/run/mailserver/rspamd-milter/milter.sock',
  milterGroup: 'postfix',
  controllerSocket: '/var/run/mailserver/rspamd/controller.sock',
  normalSocket: '/var/run/mailserver/rspamd/normal.sock',
  user: '_rspamd',
  senderOwnersFile: '/srv/mailserver/config/sender-owners',
};

test('golden: rspamd (defaults: checks on, remote maps on) and (remote off, no SPF/DMARC, no DKIM)', () => {
  const on = renderRspamd(uci(), { logFile: '/var/log/mailserver/rspamd.log', nameservers: ['127.0.0.1:53'], keys: KEYS, ...RSPAMD_SOCKETS });
  for (const [name, text] of Object.entries(on)) golden(`rspamd/${name}`, text);
  const off = renderRspamd(uci('', '', "\toption spam_remote '0'\n\toption spf '0'\n\toption dmarc '0'\n\toption dkim '0'"), { logFile: '/l', nameservers: ['[::1]:53'], keys: KEYS, ...RSPAMD_SOCKETS });
  for (const m of ['fuzzy_check', 'multimap', 'phishing', 'mid', 'asn']) assert.match(off[`override.d/${m}.conf`]!, /^enabled = false;$/m, m);
  assert.match(off['override.d/spf.conf']!, /enabled = false;/);
  assert.match(off['override.d/dmarc.conf']!, /enabled = false;/);
  assert.match(off['override.d/dkim_signing.conf']!, /enabled = false;/);
  assert.match(off['override.d/options.inc']!, /nameserver = \["\[::1\]:53"\];/);
  assert.match(on['override.d/options.inc']!, /local_addrs = \["127\.0\.0\.1\/32", "::1\/128"\];/);
  assert.match(on['override.d/dkim_signing.conf']!, /sign_inbound = false;/);
  // Unix sockets only: TCP on loopback would serve every local user.
  assert.match(on['override.d/worker-proxy.inc']!, /^bind_socket = "\/var\/run\/mailserver\/rspamd-milter\/milter\.sock mode=0660 owner=_rspamd group=postfix";$/m);
  for (const w of ['normal', 'controller']) assert.match(on[`override.d/worker-${w}.inc`]!, new RegExp(`^bind_socket = "/var/run/mailserver/rspamd/${w}\\.sock mode=0600 owner=_rspamd group=_rspamd";$`, 'm'));
  assert.match(on['override.d/dkim_signing.conf']!, /allow_envfrom_empty = false;/);
  assert.match(on['rspamd.local.lua']!, /file:\/\/\/srv\/mailserver\/config\/sender-owners/);
});

test('golden: opendkim, one instance per algorithm on a Unix socket', () => {
  const files = renderOpendkim({ configDir: '/srv/mailserver/config/opendkim', runDir: '/var/run/mailserver/opendkim', senderOwnersFile: '/srv/mailserver/config/sender-owners', user: 'opendkim', instances: ['rsa', 'ed25519'], keys: KEYS });
  for (const [name, text] of Object.entries(files)) golden(`opendkim/${name}`, text);
  assert.match(files['opendkim.conf']!, /^SignatureAlgorithm rsa-sha256$/m);
  assert.match(files['opendkim-ed25519.conf']!, /^SignatureAlgorithm ed25519-sha256$/m);
  assert.match(files['opendkim-ed25519.conf']!, /^Socket local:\/var\/run\/mailserver\/opendkim\/opendkim-ed25519\.sock$/m);
  assert.match(files['opendkim.conf']!, /^SetupPolicyScript \/srv\/mailserver\/config\/opendkim\/from-ownership\.lua$/m);
  assert.match(files['from-ownership.lua']!, /file:\/srv\/mailserver\/config\/sender-owners/);
  assert.is(files['key-ed25519.table']!.trim().split('\n').length, 1);
  assert.throws(() => renderOpendkim({ configDir: '/a b', runDir: '/r', senderOwnersFile: '/o', user: 'opendkim', instances: ['rsa'], keys: [] }), /whitespace/);
});

test('main.cf: the milter only when one is given, deferring mail when it does not answer', () => {
  const v = { configDir: '/c', mailDir: '/m', sslDir: '/s', postfixSecretsDir: '/x', postfixConfigDir: '/p', postfixQueueDir: '/q', postfixDataDir: '/d', dovecotConfigFile: '/dc', dovecotBaseDir: '/db', dovecotStateDir: '/ds', logDir: '/l', mailUid: 5000, mailGid: 5000, mapType: 'hash', postfixVersion: '3.7.11' } as RuntimeView;
  assert.not.match(renderPostfixMain(uci(), v, { relayCredentials: false }), /milter/);
  const cf = renderPostfixMain(uci(), v, { relayCredentials: false, milter: 'unix:/r/opendkim.sock, unix:/r/opendkim-ed25519.sock' });
  assert.match(cf, /^smtpd_milters = unix:\/r\/opendkim\.sock, unix:\/r\/opendkim-ed25519\.sock$/m);
  assert.match(cf, /^non_smtpd_milters = \$smtpd_milters$/m);
  assert.match(cf, /^milter_default_action = tempfail$/m);
});

test.run();
