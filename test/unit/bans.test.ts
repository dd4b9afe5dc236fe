// The pure parts of the brute-force bans: which log lines are failed logins, when an address is
// due for a ban, which addresses never are, and the nftables text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FailureWindow, parseFailure } from '../../src-rpc/ban/failures.ts';
import { neverBannedMatcher } from '../../src-rpc/ban/never.ts';
import { renderBanRuleset } from '../../src-rpc/render/nftables.ts';
import { ipNetwork } from '../../src-rpc/config/validate.ts';
import { banRuleset } from '../../src-rpc/ban/nft.ts';
import { settingsFrom } from '../../src-rpc/config/load.ts';
import { parseUci } from '../../src-rpc/config/uci.ts';

const NOW = new Date(2026, 11, 2, 12, 0, 0).getTime();

test('failed logins in Dovecot’s auth log, every protocol and SMTP AUTH alike', () => {
  const mismatch = 'Dec 02 11:59:58 auth: Info: passwd-file(anna@example.com,198.51.100.7,<Gh5xYz>): Password mismatch';
  assert.equal(parseFailure(mismatch, NOW), { address: '198.51.100.7', at: new Date(2026, 11, 2, 11, 59, 58).getTime() });
  assert.equal(parseFailure('Dec 02 11:59:59 auth: Info: passwd-file(x@example.com,2001:db8::7): unknown user', NOW)?.address, '2001:db8::7');
  assert.equal(parseFailure('Dec 02 11:59:59 auth: Info: passwd-file(x@example.com,::ffff:192.0.2.1,<a>): unknown user', NOW)?.address, '192.0.2.1');
  // Not failures: successful logins, disconnects (one per connection), other daemons' lines.
  for (const line of [
    'Dec 02 11:59:59 imap-login: Info: Login: user=<anna@example.com>, method=PLAIN, rip=198.51.100.7, lip=127.0.0.1',
    'Dec 02 11:59:59 imap-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<anna@example.com>, rip=198.51.100.7',
    'Dec 02 11:59:59 auth: Info: passwd-file(anna@example.com,not-an-ip,<a>): Password mismatch',
    'Dec 02 11:59:59 lmtp(anna@example.com): Info: Password mismatch',
  ]) {
    assert.is(parseFailure(line, NOW), null, line);
  }
  // The log has no year: a date ahead of now is last year's.
  assert.is(new Date(parseFailure(mismatch.replace('Dec 02', 'Dec 31'), NOW)!.at).getFullYear(), 2025);
});

test('N failures within the window are due for a ban once; older ones do not count', () => {
  const w = new FailureWindow(3, 60_000);
  const f = (address: string, s: number) => w.add({ address, at: NOW + s * 1000 });
  assert.is(f('192.0.2.1', 0), false);
  assert.is(f('192.0.2.1', 10), false);
  assert.is(f('192.0.2.2', 11), false);
  assert.is(f('192.0.2.1', 20), true);
  assert.is(f('192.0.2.1', 21), false, 'counting starts over after a ban');
  // Spread out: never three inside one minute.
  const slow = new FailureWindow(3, 60_000);
  assert.equal([0, 40, 80, 120].map((s) => slow.add({ address: '192.0.2.3', at: NOW + s * 1000 })), [false, false, false, false]);
});

test('never banned: exact addresses, networks of both families, IPv4-mapped IPv6', () => {
  const never = neverBannedMatcher(['127.0.0.1', '::1', '192.168.1.0/24', '2001:db8::/32']);
  for (const a of ['127.0.0.1', '::1', '192.168.1.77', '2001:db8:1::5', '::ffff:192.168.1.9']) assert.ok(never(a), a);
  for (const a of ['127.0.0.2', '192.168.2.1', '2001:db9::1', 'garbage']) assert.not.ok(never(a), a);
});

test('ban.allow entries: an address or a network, canonical; anything else refused', () => {
  assert.is(ipNetwork('ban.allow', '192.168.1.0/24'), '192.168.1.0/24');
  assert.is(ipNetwork('ban.allow', '2001:DB8::/032'), '2001:db8::/32');
  assert.is(ipNetwork('ban.allow', '10.0.0.1'), '10.0.0.1');
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8; drop', 'lan', '10.0.0.0/8 ', '010.0.0.1']) {
    assert.throws(() => ipNetwork('ban.allow', bad), undefined, bad);
  }
});

test('the ruleset: our own table, timeout sets, the mail ports refused to banned addresses', () => {
  const text = renderBanRuleset([993, 25, 587, 25], ['127.0.0.1', '::1', '10.0.0.0/8']);
  assert.match(text, /^table inet mailserver \{$/m);
  assert.match(text, /set banned4 \{ type ipv4_addr; flags timeout; \}/);
  assert.match(text, /set banned6 \{ type ipv6_addr; flags timeout; \}/);
  assert.match(text, /^add element inet mailserver allowed4 \{ 127\.0\.0\.1, 10\.0\.0\.0\/8 \}$/m);
  assert.match(text, /^add element inet mailserver allowed6 \{ ::1 \}$/m);
  assert.match(text, /^add rule inet mailserver input ip saddr @banned4 tcp dport \{ 25, 587, 993 \} reject with tcp reset$/m);
  // Re-applied on every start and by fw4: the chain is emptied first, never grows.
  assert.ok(text.indexOf('flush chain inet mailserver input') < text.indexOf('add rule'));
  assert.not.match(text, /flush set inet mailserver banned/);
  // Daemons on the router: nothing in the forward path is refused.
  assert.match(text, /^flush chain inet mailserver forward$/m);
  assert.not.match(text, /^add rule inet mailserver forward/m);
});

test('a veth container is reached through the forward path: its mail ports are refused to banned addresses there too', () => {
  const text = renderBanRuleset([25, 143], ['127.0.0.1'], true);
  assert.match(text, /chain forward \{ type filter hook forward priority filter - 10; policy accept; \}/);
  assert.match(text, /^add rule inet mailserver forward ip saddr @allowed4 return$/m);
  assert.match(text, /^add rule inet mailserver forward ip saddr @banned4 tcp dport \{ 25, 143 \} reject with tcp reset$/m);
  assert.match(text, /^add rule inet mailserver input ip saddr @banned4 tcp dport \{ 25, 143 \} reject with tcp reset$/m);
  // The allow-list is checked first in each chain.
  assert.ok(text.indexOf('forward ip saddr @allowed4') < text.indexOf('forward ip saddr @banned4'));
});

test('the settings decide the forward rules: only a veth container is reached through the forward path', () => {
  const rules = (main: string, lxc: string) => banRuleset(settingsFrom(parseUci(`config mailserver 'main'\n${main}\nconfig lxc 'lxc'\n${lxc}\n`)));
  const forward = /^add rule inet mailserver forward ip saddr @banned4 /m;
  assert.match(rules("\toption runtime 'lxc'", "\toption network 'veth'\n\toption bridge 'br-lan'\n\toption address '192.168.1.25/24'"), forward);
  assert.not.match(rules("\toption runtime 'lxc'", "\toption network 'host'"), forward);
  assert.not.match(rules("\toption runtime 'host'", "\toption network 'veth'\n\toption bridge 'br-lan'"), forward);
});

test.run();
