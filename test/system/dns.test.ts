// DNS records, publication and the health check against the real BIND of the test namespace
// (test/support/netns.sh): nsupdate with its TSIG key, and the fake dnsctl (same CLI and quirks
// as SecuBox's) driving the same BIND. No daemons needed: this is about the DNS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, insideTestNetns } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { dig, nsupdate, setUci, testTsigSecret, fakeDnsctlPath } from '../support/dns.ts';

const box = makeSandbox();
const root = box.root;
const json = (args: string[]) => JSON.parse(ok(root, [...args, '--json']).stdout);
let silentServer: Socket | undefined;

test.before(() => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  writeConfig(root, { extraDomains: ['example.org'], dkim: true });
  setUci(root, 'main', 'public_ip', '192.0.2.10');
  setUci(root, 'dns', 'provider', 'nsupdate');
  setUci(root, 'dns', 'server', '127.0.0.1');
  setUci(root, 'dns', 'wait', '3');
  setUci(root, 'dns', 'dkim_algorithms', 'rsa ed25519');
});

test.after(() => {
  silentServer?.close();
  box.cleanup();
});

test('bad TSIG input is refused with a clear error and stores nothing', () => {
  const bad = mailctl(root, ['dns', 'key-set', 'tsig-test', '--password-stdin'], 'not base64!\n');
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /secret: the TSIG secret is not base64/);
  const short = mailctl(root, ['dns', 'key-set', 'tsig-test', '--password-stdin'], 'c2hvcnQ=\n');
  assert.match(short.stderr, /too short/);
  const name = mailctl(root, ['dns', 'key-set', 'bad name!', '--password-stdin'], `${testTsigSecret()}\n`);
  assert.match(name.stderr, /name: .*not a TSIG key name/);
  const alg = mailctl(root, ['dns', 'key-set', 'tsig-test', '--algorithm', 'rot13', '--password-stdin'], `${testTsigSecret()}\n`);
  assert.match(alg.stderr, /algorithm: expected one of hmac-sha256/);
  assert.is(json(['dns', 'key-show']).name, null);
});

test('bad DNS options are refused with their UCI name', () => {
  for (const [option, value, why] of [
    ['dkim_selector', 'bad_selector', /mailserver\.dns\.dkim_selector: "bad_selector" is not a DKIM selector/],
    ['dkim_algorithms', 'rsa dsa', /dns\.dkim_algorithms: "dsa" is not a DKIM algorithm/],
    ['spf_policy', '+all', /dns\.spf_policy: expected -all, ~all or \?all/],
    ['server', 'not a host', /dns\.server/],
  ] as const) {
    setUci(root, 'dns', option, value);
    const r = mailctl(root, ['dns', 'records']);
    assert.is(r.code, 1, option);
    assert.match(r.stderr, why);
    setUci(root, 'dns', option, null);
  }
  setUci(root, 'dns', 'server', '127.0.0.1');
  setUci(root, 'dns', 'dkim_algorithms', 'rsa ed25519');
  setUci(root, 'main', 'public_ip', '300.1.2.3');
  assert.match(mailctl(root, ['dns', 'records']).stderr, /main\.public_ip: "300\.1\.2\.3" is not an IP address/);
  setUci(root, 'main', 'public_ip', '192.0.2.10');
});

test('without main.public_ip and without ubus, or with a private address, nothing is published', () => {
  setUci(root, 'main', 'public_ip', null);
  const none = mailctl(root, ['dns-setup']);
  assert.is(none.code, 1);
  assert.match(none.stderr, /main\.public_ip is not set and there is no ubus here/);
  for (const [ip, why] of [['10.1.2.3', /private address/], ['100.64.7.8', /carrier-grade NAT/]] as const) {
    setUci(root, 'main', 'public_ip', ip);
    const rec = mailctl(root, ['dns', 'records']);
    assert.is(rec.code, 1);
    assert.match(rec.stdout, why);
    assert.not.match(rec.stdout, new RegExp(`^A .*${ip.replace(/\./g, '\\.')}`, 'm'));
    assert.match(mailctl(root, ['dns-setup']).stderr, why);
  }
  assert.equal(dig('mail.example.com', 'A'), ['127.0.0.1'], 'the zone is untouched');
  setUci(root, 'main', 'public_ip', '192.0.2.10');
});

test('nsupdate: dns-setup publishes every expected record; dig sees them; dns-check is all ok; a second run changes nothing', () => {
  ok(root, ['dns', 'key-set', process.env.TEST_TSIG_KEYNAME!, '--password-stdin'], `${testTsigSecret()}\n`);
  const keyFile = join(root, 'srv/mailserver/secrets/tsig.key');
  assert.is(statSync(keyFile).mode & 0o777, 0o600);
  assert.not.match(readFileSync(join(root, 'etc/config/mailserver'), 'utf8'), new RegExp(testTsigSecret().replace(/[+/=]/g, '.')));
  const t0 = Date.now();
  const first = json(['dns-setup']);
  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(`  dns-setup (nsupdate, ${first.records} records, 2 domains, RSA+Ed25519 DKIM): ${seconds.toFixed(1)} s, ${first.changes.length} changes\n`);
  assert.ok(first.changes.length >= first.records - 2, JSON.stringify(first.changes)); // MX example.com and nothing else pre-existed
  const records = json(['dns', 'records', '--format', 'json']).records as { name: string; type: string; value: string }[];
  assert.is(records.length, first.records);
  for (const r of records) assert.ok(dig(r.name, r.type).includes(r.value), `${r.type} ${r.name}: ${dig(r.name, r.type).join(' | ')}`);
  assert.equal(dig('mail.example.com', 'A'), ['192.0.2.10']);
  assert.equal(dig('example.org', 'MX'), ['10 mail.example.com.']);
  assert.equal(dig('_submission._tcp.example.org', 'SRV'), ['0 1 587 mail.example.com.']);
  const ed = dig('mail-ed25519._domainkey.example.com', 'TXT')[0]!;
  assert.match(ed, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  assert.is(Buffer.from(ed.split('p=')[1]!, 'base64').length, 32, 'the ed25519 p= is the raw 32-byte key');
  const check = mailctl(root, ['dns-check']);
  assert.is(check.code, 0, check.stdout);
  assert.match(check.stdout, /0 missing, 0 different, 0 not answered/);
  const again = json(['dns-setup']);
  assert.equal(again.changes, []);
  assert.is(again.unchanged, again.records);
});

test('the zone form splits long TXT values into strings of at most 255 bytes', () => {
  const zone = ok(root, ['dns', 'records', '--format', 'zone']).stdout;
  const rsa = zone.split('\n').find((l) => l.startsWith('mail._domainkey.example.com. 3600 IN TXT'))!;
  const strings = [...rsa.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(strings.length >= 2, rsa);
  assert.ok(strings.every((s) => Buffer.byteLength(s) <= 255));
  assert.is(strings.join(''), dig('mail._domainkey.example.com', 'TXT')[0]);
});

test('a changed public_ip replaces the A record; nothing else changes', () => {
  setUci(root, 'main', 'public_ip', '198.51.100.7');
  const r = json(['dns-setup']);
  assert.equal(r.changes.map((c: { action: string; type: string; name: string }) => `${c.action} ${c.type} ${c.name}`), ['replaced A mail.example.com']);
  assert.equal(dig('mail.example.com', 'A'), ['198.51.100.7']);
});

test("the Overview's DNS health: dns-check (a read) stores nothing; tick stores its summary and notices a record deleted in BIND", () => {
  const file = join(root, 'srv/mailserver/state/dns-check.json');
  rmSync(file, { force: true });
  const fresh = json(['dns-check']).health;
  assert.is(fresh.ok, true);
  assert.is(existsSync(file), false, 'dns-check wrote the stored summary');
  assert.is(json(['overview']).dns, null);
  assert.is(json(['tick']).dns.ok, true);
  const checked = json(['overview']).dns;
  assert.ok(checked, 'tick stored a summary');
  assert.is(checked.ok, true);
  assert.equal({ ...checked, checkedAt: '' }, { ...fresh, checkedAt: '' });
  assert.is(checked.records, json(['dns', 'records', '--format', 'json']).records.length);
  assert.equal([checked.problems, checked.notes], [[], []]);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')), checked);
  assert.is(statSync(file).mode & 0o777, 0o644);

  nsupdate('example.org', ['update delete _submission._tcp.example.org. SRV']);
  const tick = json(['tick']);
  assert.is(tick.dns.ok, false, JSON.stringify(tick.dns));
  const drifted = json(['overview']).dns;
  assert.equal(drifted, tick.dns);
  assert.equal(drifted.problems, [{ name: '_submission._tcp.example.org', type: 'SRV', state: 'missing' }]);
  assert.ok(Date.parse(drifted.checkedAt) > Date.parse(checked.checkedAt), `${drifted.checkedAt} after ${checked.checkedAt}`);

  assert.equal(json(['dns-setup']).changes.map((c: { action: string; name: string }) => `${c.action} ${c.name}`), ['added _submission._tcp.example.org']);
  assert.is(json(['tick']).dns.ok, true);
  assert.is(json(['overview']).dns.ok, true);
});

test('dns-check names a record deleted or changed in BIND; dns-setup repairs it and keeps other apex TXT records', () => {
  nsupdate('example.org', ['update delete _dmarc.example.org. TXT']);
  nsupdate('example.com', ['update delete example.com. TXT "v=spf1 mx a:mail.example.com ~all"', 'update add example.com. 300 TXT "v=spf1 include:elsewhere.example.net -all"', 'update add example.com. 300 TXT "site-verification=abc123"']);
  const check = mailctl(root, ['dns-check']);
  assert.is(check.code, 1);
  assert.match(check.stdout, /^missing\s+TXT\s+_dmarc\.example\.org$/m);
  assert.match(check.stdout, /^different TXT\s+example\.com$/m);
  assert.match(check.stdout, /does not authorise mail\.example\.com/);
  assert.match(check.stdout, /ends with -all instead of ~all/);
  const report = JSON.parse(mailctl(root, ['dns-check', '--json']).stdout);
  const dmarc = report.records.find((r: { name: string }) => r.name === '_dmarc.example.org');
  assert.equal([dmarc.status, dmarc.published], ['missing', []]);
  const fixed = json(['dns-setup']);
  assert.equal(fixed.changes.map((c: { action: string; name: string }) => `${c.action} ${c.name}`).sort(), ['added _dmarc.example.org', 'replaced example.com']);
  assert.equal(dig('example.com', 'TXT').sort(), ['site-verification=abc123', 'v=spf1 mx a:mail.example.com ~all']);
  assert.is(mailctl(root, ['dns-check']).code, 0);
});

test('a wrong TSIG secret: nsupdate is refused, the error says so, nothing half-done stays', () => {
  const good = readFileSync(join(root, 'srv/mailserver/secrets/tsig.key'), 'utf8');
  ok(root, ['dns', 'key-set', 'tsig-test', '--password-stdin'], `${Buffer.alloc(32, 7).toString('base64')}\n`);
  setUci(root, 'main', 'public_ip', '203.0.113.5');
  const r = mailctl(root, ['dns-setup']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /A mail\.example\.com: nsupdate failed for zone example\.com: .*(NOTAUTH|BADSIG|tsig)/i);
  assert.equal(dig('mail.example.com', 'A'), ['198.51.100.7']);
  writeFileSync(join(root, 'srv/mailserver/secrets/tsig.key'), good);
  assert.equal(json(['dns-setup']).changes.length, 1);
  assert.equal(dig('mail.example.com', 'A'), ['203.0.113.5']);
});

test('a DNS server that does not answer: every record times out, the check ends in seconds and fails', async () => {
  silentServer = createSocket('udp4');
  await new Promise<void>((res) => silentServer!.bind(5399, '127.0.0.1', () => res()));
  setUci(root, 'dns', 'server', '127.0.0.1:5399');
  setUci(root, 'dns', 'resolver', '127.0.0.1:5399');
  const t0 = Date.now();
  const r = mailctl(root, ['dns-check', '--json']);
  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(`  dns-check against a silent server: ${seconds.toFixed(1)} s\n`);
  assert.is(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.ok(report.records.every((x: { status: string }) => x.status === 'error'), r.stdout);
  assert.match(report.records[0].problems[0], /did not answer/);
  assert.ok(seconds < 45, `${seconds} s (3 s per record; a busy machine may double it, a missing timeout is minutes)`);
  setUci(root, 'dns', 'server', '127.0.0.1');
  setUci(root, 'dns', 'resolver', null);
});

// ---- the fake dnsctl ------------------------------------------------------------------------

test('dnsctl: a provider that "succeeds" without publishing is caught; one failing half-way is resumed without duplicates', () => {
  const state = join(root, 'fake-dnsctl');
  process.env.PATH = `${fakeDnsctlPath(join(root, 'bin'))}:${process.env.PATH}`;
  mkdirSync(state, { recursive: true });
  process.env.FAKE_DNSCTL_STATE = state;
  // example.net: a zone nothing has published into yet.
  writeConfig(root, { domain: 'example.net', dkim: true });
  setUci(root, 'main', 'public_ip', '192.0.2.20');
  setUci(root, 'dns', 'provider', 'dnsctl');
  setUci(root, 'dns', 'wait', '2');

  process.env.FAKE_DNSCTL_MODE = 'silent';
  const silent = mailctl(root, ['dns-setup']);
  assert.is(silent.code, 1);
  assert.match(silent.stderr, /A mail\.example\.net: dnsctl add A mail\.example\.net: not seen in DNS after 2 s .*dnsctl said: .*Record created/);
  assert.equal(dig('mail.example.net', 'A'), []);

  process.env.FAKE_DNSCTL_MODE = 'fail-after:3';
  writeFileSync(join(state, 'fake-dnsctl.count'), '0');
  const half = mailctl(root, ['dns-setup']);
  assert.is(half.code, 1);
  assert.match(half.stderr, /3 of \d+ records done.*run dns-setup again/);
  assert.match(half.stderr, /503 Service Unavailable/);
  assert.equal(dig('mail.example.net', 'A'), ['192.0.2.20']);

  process.env.FAKE_DNSCTL_MODE = 'ok';
  const t0 = Date.now();
  const done = json(['dns-setup']);
  process.stdout.write(`  dns-setup (dnsctl, resumed): ${((Date.now() - t0) / 1000).toFixed(1)} s, ${done.changes.length} changes, ${done.unchanged} already there\n`);
  assert.is(done.unchanged, 3);
  const records = json(['dns', 'records', '--format', 'json']).records as { name: string; type: string; value: string }[];
  for (const r of records) {
    const published = dig(r.name, r.type);
    const ours = r.type === 'TXT' && r.name === 'example.net' ? published.filter((v) => v.startsWith('v=spf1')) : published;
    assert.equal(ours, [r.value], `${r.type} ${r.name}: exactly one record`);
  }
  assert.is(mailctl(root, ['dns-check']).code, 0);
  const log = () => readFileSync(join(state, 'fake-dnsctl.log'), 'utf8').trim().split('\n').length;
  const calls = log();
  assert.equal(json(['dns-setup']).changes, []);
  assert.is(log(), calls, 'a second run calls dnsctl not at all');
});

test('dnsctl: a changed address is replaced; an SPF next to another apex TXT is never removed by "rm the first TXT"', () => {
  setUci(root, 'main', 'public_ip', '192.0.2.21');
  const r = json(['dns-setup']);
  assert.equal(r.changes.map((c: { action: string; name: string }) => `${c.action} ${c.name}`), ['replaced mail.example.net']);
  assert.equal(dig('mail.example.net', 'A'), ['192.0.2.21']);

  nsupdate('example.net', ['update add example.net. 300 TXT "aaa-first-in-the-list=1"']);
  setUci(root, 'dns', 'spf_policy', '-all');
  const refused = mailctl(root, ['dns-setup']);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /example\.net has 2 TXT records and `dnsctl rm` deletes whichever the provider lists first: delete exactly "v=spf1 mx a:mail\.example\.net ~all" by hand/);
  assert.equal(dig('example.net', 'TXT').sort(), ['aaa-first-in-the-list=1', 'v=spf1 mx a:mail.example.net ~all']);
  // Once the other TXT is gone, the SPF record is replaced through dnsctl.
  nsupdate('example.net', ['update delete example.net. TXT "aaa-first-in-the-list=1"']);
  assert.equal(json(['dns-setup']).changes.map((c: { action: string }) => c.action), ['replaced']);
  assert.equal(dig('example.net', 'TXT'), ['v=spf1 mx a:mail.example.net -all']);
  assert.is(mailctl(root, ['dns-check']).code, 0);
});

test('manual: dns-setup publishes nothing and prints exactly what is missing or different, in zone-file form', () => {
  setUci(root, 'dns', 'provider', 'manual');
  nsupdate('example.net', ['update delete _dmarc.example.net. TXT']);
  setUci(root, 'main', 'public_ip', '192.0.2.22');
  const r = mailctl(root, ['dns-setup']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /dns\.provider is manual: create these 2 records/);
  assert.match(r.stdout, /^mail\.example\.net\. 3600 IN A 192\.0\.2\.22$/m);
  assert.match(r.stdout, /^_dmarc\.example\.net\. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@example\.net"$/m);
  assert.equal(dig('mail.example.net', 'A'), ['192.0.2.21']);
  assert.equal(dig('_dmarc.example.net', 'TXT'), []);
  assert.is(mailctl(root, ['dns-check']).code, 1);
});

test.run();
