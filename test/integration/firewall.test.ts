// `mailctl firewall setup|clear|status` on a copy of a stock OpenWrt /etc/config/firewall: the
// sections fw4 expects are added, every other byte is kept, clear gives the file back as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { setUci } from '../support/dns.ts';
import { parseUci, serializeUci } from '../../src-rpc/config/uci.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const STOCK = readFileSync(join(HERE, '../fixtures/firewall/firewall'));
const box = makeSandbox();
const root = box.root;
const firewallFile = join(root, 'etc/config/firewall');
const reloadLog = join(root, 'firewall-reloads.log');
process.env.FAKE_FIREWALL_LOG = reloadLog;

const current = () => readFileSync(firewallFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const reloads = () => (existsSync(reloadLog) ? readFileSync(reloadLog, 'utf8').trim().split('\n').filter(Boolean) : []);
/** Our sections as fw4 reads them: type, section name and options. */
function ours(text: Buffer): Record<string, unknown>[] {
  return parseUci(text.toString('latin1')).sections.filter((s) => s.name?.startsWith('mailserver_')).map((s) => ({ type: s.type, section: s.name, ...Object.fromEntries(s.options) }));
}
const rule = (service: string, port: number) => ({ type: 'rule', section: `mailserver_${service}`, name: `mailserver-${service}`, src: 'wan', proto: 'tcp', dest_port: String(port), target: 'ACCEPT' });

test.before(() => {
  // POP3 off: a port 0 is a listener that is off, and nothing may open it.
  writeConfig(root, { ports: { pop3: 0, pop3s: 0 } });
  mkdirSync(join(root, 'etc/init.d'), { recursive: true });
  copyFileSync(join(HERE, '../support/fake-firewall-init'), join(root, 'etc/init.d/firewall'));
  writeFileSync(firewallFile, STOCK);
});
test.after(() => box.cleanup());

test('setup adds one ACCEPT rule from wan per enabled port and keeps every byte of the stock file', () => {
  const r = ok(root, ['firewall', 'setup']);
  assert.match(r.stdout, /firewall sections written/);
  const after = current();
  assert.ok(after.subarray(0, STOCK.length).equals(STOCK), 'the stock file is a prefix, byte for byte');
  const wanted = [rule('smtp', 25), rule('submission', 587), rule('smtps', 465), rule('imap', 143), rule('imaps', 993), rule('sieve', 4190)];
  assert.equal(ours(after), wanted);
  // What was appended is what `uci` would write for these sections, nothing else.
  const appended = after.subarray(STOCK.length).toString();
  assert.is(appended, serializeUci(parseUci(appended)).slice(0, -1));
  assert.equal(reloads(), [`reload ${sha(after)}`], 'fw4 reloaded once, after the file was written');
});

test('status shows what is open; setup again changes nothing and does not reload', () => {
  const before = current();
  const mtime = statSync(firewallFile).mtimeMs;
  const s = ok(root, ['firewall', 'status', '--json']);
  const status = JSON.parse(s.stdout);
  assert.is(status.upToDate, true);
  assert.equal(status.open.map((p: { name: string; port: number }) => `${p.name}:${p.port}`), ['mailserver-smtp:25', 'mailserver-submission:587', 'mailserver-smtps:465', 'mailserver-imap:143', 'mailserver-imaps:993', 'mailserver-sieve:4190']);
  assert.match(ok(root, ['firewall', 'status']).stdout, /mailserver-smtp: tcp 25 from wan/);
  assert.match(ok(root, ['firewall', 'setup']).stdout, /already up to date/);
  assert.ok(current().equals(before));
  assert.is(statSync(firewallFile).mtimeMs, mtime, 'the file was not rewritten');
  assert.is(reloads().length, 1);
});

test('a changed port: status says so, setup replaces our sections and keeps the rest', () => {
  setUci(root, 'ports', 'submission', '2587');
  setUci(root, 'ports', 'pop3s', '995');
  assert.match(ok(root, ['firewall', 'status']).stdout, /differ from the settings/);
  ok(root, ['firewall', 'setup']);
  const after = current();
  assert.ok(after.subarray(0, STOCK.length).equals(STOCK));
  const ports = ours(after).map((s) => `${s.name}:${s.dest_port}`);
  assert.equal(ports, ['mailserver-smtp:25', 'mailserver-submission:2587', 'mailserver-smtps:465', 'mailserver-imap:143', 'mailserver-imaps:993', 'mailserver-pop3s:995', 'mailserver-sieve:4190']);
  assert.is(reloads().at(-1), `reload ${sha(after)}`);
});

test('clear removes exactly our sections: the stock file again, byte for byte', () => {
  const r = ok(root, ['firewall', 'clear']);
  assert.match(r.stdout, /removed: mailserver-smtp/);
  assert.ok(current().equals(STOCK));
  assert.is(reloads().at(-1), `reload ${sha(STOCK)}`);
  const count = reloads().length;
  assert.match(ok(root, ['firewall', 'clear']).stdout, /no mailserver sections/);
  assert.is(reloads().length, count, 'nothing to remove, nothing reloaded');
  assert.equal(JSON.parse(ok(root, ['firewall', 'status', '--json']).stdout).open, []);
});

test('what the owner adds after ours, and a rewrite by `uci commit`, are kept', () => {
  ok(root, ['firewall', 'setup']);
  const own = "\nconfig rule 'owner_ssh'\n\toption name 'Allow-SSH'\n\toption src 'wan'\n\toption dest_port '22'\n\toption target 'ACCEPT' # mine\n";
  writeFileSync(firewallFile, Buffer.concat([current(), Buffer.from(own)]));
  setUci(root, 'ports', 'sieve', '0');
  ok(root, ['firewall', 'setup']);
  const names = parseUci(current().toString()).sections.map((s) => s.options.get('name'));
  assert.ok(names.includes('Allow-SSH'));
  assert.not.ok(names.includes('mailserver-sieve'), 'a port turned off is closed');
  ok(root, ['firewall', 'clear']);
  assert.is(current().toString(), STOCK.toString() + own, 'the owner section, comment included, stays');
  // A file as `uci commit firewall` rewrites it (LuCI's Save & Apply): clear leaves uci's own format.
  writeFileSync(firewallFile, STOCK);
  ok(root, ['firewall', 'setup']);
  const committed = serializeUci(parseUci(current().toString()));
  writeFileSync(firewallFile, committed);
  ok(root, ['firewall', 'clear']);
  assert.is(current().toString(), serializeUci(parseUci(STOCK.toString())));
  writeFileSync(firewallFile, STOCK);
});

test('veth network: a DNAT redirect to the container address per port; DHCP is refused', () => {
  setUci(root, 'main', 'runtime', 'lxc');
  setUci(root, 'lxc', 'network', 'veth');
  setUci(root, 'lxc', 'address', '192.168.1.25/24');
  ok(root, ['firewall', 'setup']);
  const redirects = ours(current());
  assert.is(redirects.length, 6);
  for (const r of redirects) {
    assert.is(r.type, 'redirect');
    assert.equal([r.src, r.proto, r.dest_ip, r.target, r.family], ['wan', 'tcp', '192.168.1.25', 'DNAT', 'ipv4']);
    assert.is(r.src_dport, r.dest_port);
  }
  assert.equal(redirects.map((r) => r.src_dport), ['25', '2587', '465', '143', '993', '995']);
  ok(root, ['firewall', 'clear']);
  assert.ok(current().equals(STOCK));

  setUci(root, 'lxc', 'address', 'dhcp');
  const r = mailctl(root, ['firewall', 'setup']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /lxc\.address/);
  assert.ok(current().equals(STOCK), 'nothing written');
  assert.match(ok(root, ['firewall', 'status']).stdout, /DHCP/);
  setUci(root, 'lxc', 'address', 'not-an-address');
  const bad = mailctl(root, ['firewall', 'status']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /mailserver\.lxc\.address/);
  setUci(root, 'main', 'runtime', 'host');
  setUci(root, 'lxc', 'address', null);
});

test('a firewall file uci would refuse, or none at all: a clear error and nothing written', () => {
  const broken = Buffer.concat([STOCK, Buffer.from("\nconfig rule\n\toption name 'unterminated\n")]);
  writeFileSync(firewallFile, broken);
  const r = mailctl(root, ['firewall', 'setup']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /\/etc\/config\/firewall line \d+/);
  assert.ok(current().equals(broken));
  // status (and with it the Overview) says what is wrong instead of failing.
  assert.match(ok(root, ['firewall', 'status']).stdout, /\/etc\/config\/firewall line \d+/);
  assert.match(JSON.parse(ok(root, ['overview', '--json']).stdout).firewall.problem, /line \d+/);
  // Our section and the owner's on one line (`;`): cutting ours would cut theirs, so nothing is done.
  const shared = Buffer.concat([STOCK, Buffer.from("\nconfig rule 'mailserver_smtp'\n\toption dest_port '25'; config rule 'owner'\n\toption name 'Mine'\n")]);
  writeFileSync(firewallFile, shared);
  const c = mailctl(root, ['firewall', 'clear']);
  assert.is(c.code, 1);
  assert.match(c.stderr, /shares a line/);
  assert.ok(current().equals(shared));
  rmSync(firewallFile);
  const none = mailctl(root, ['firewall', 'setup']);
  assert.is(none.code, 1);
  assert.match(none.stderr, /does not exist/);
  assert.not.ok(existsSync(firewallFile));
  writeFileSync(firewallFile, STOCK);
});

test('without an init script (not OpenWrt) the file is written and no reload is claimed', () => {
  rmSync(join(root, 'etc/init.d/firewall'));
  const r = ok(root, ['firewall', 'setup', '--json']);
  assert.equal(JSON.parse(r.stdout).reload, { ran: false });
  assert.is(ours(current()).length, 6);
  ok(root, ['firewall', 'clear']);
  assert.ok(current().equals(STOCK));
});

test.run();
