// Without main.public_ip, the mail host's address comes from the router's WAN interface
// (`ubus call network.interface.wan status`). ubus is OpenWrt-only: test/support/fake-ubus/ubus
// is a fake that answers that call the way the real CLI does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { MAILCTL, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox();
const ubusDir = join(box.root, 'fake-ubus');
const fakeUbusBin = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'fake-ubus');

function wan(iface: string, status: object | null): void {
  mkdirSync(ubusDir, { recursive: true });
  if (status) writeFileSync(join(ubusDir, `${iface}.json`), JSON.stringify(status, null, '\t'));
  else rmSync(join(ubusDir, `${iface}.json`), { force: true });
}

function records(): { records: { type: string; name: string; value: string }[]; problems: string[]; code: number } {
  const r = spawnSync(MAILCTL, ['dns', 'records', '--format', 'json'], {
    env: { ...process.env, MAILSERVER_ROOT: box.root, FAKE_UBUS_DIR: ubusDir, PATH: `${fakeUbusBin}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  const out = JSON.parse(r.stdout) as { records: { type: string; name: string; value: string }[]; problems: string[] };
  return { ...out, code: r.status ?? -1 };
}

const hostA = (r: ReturnType<typeof records>) => r.records.filter((x) => x.type === 'A' && x.name === 'mail.example.com').map((x) => x.value);

test.before(() => writeConfig(box.root));
test.after(() => box.cleanup());

test('the WAN address is published as the mail host A record', () => {
  wan('wan', { up: true, 'ipv4-address': [{ address: '203.0.113.7', mask: 24 }] });
  const r = records();
  assert.equal(hostA(r), ['203.0.113.7']);
  assert.not.ok(r.problems.some((p) => /public_ip|WAN/.test(p)), r.problems.join('\n'));
});

test('a CGNAT or private WAN address is reported, never published', () => {
  for (const address of ['100.64.12.34', '192.168.1.2', '10.0.0.1']) {
    wan('wan', { up: true, 'ipv4-address': [{ address, mask: 10 }] });
    const r = records();
    assert.equal(hostA(r), [], address);
    assert.ok(r.problems.some((p) => p.includes(address)), `${address}: ${r.problems.join('\n')}`);
  }
});

test('no WAN address, or no WAN interface: a clear problem naming main.public_ip', () => {
  wan('wan', { up: false, 'ipv4-address': [] });
  assert.ok(records().problems.some((p) => p.includes('main.public_ip')));
  wan('wan', null);
  const r = records();
  assert.equal(hostA(r), []);
  assert.ok(r.problems.some((p) => p.includes('main.public_ip')), r.problems.join('\n'));
});

test('main.public_ip wins over the WAN interface', () => {
  wan('wan', { up: true, 'ipv4-address': [{ address: '203.0.113.7', mask: 24 }] });
  const uci = join(box.root, 'etc/config/mailserver');
  writeFileSync(uci, readFileSync(uci, 'utf8').replace("option runtime 'host'", "option runtime 'host'\n\toption public_ip '198.51.100.9'"));
  assert.equal(hostA(records()), ['198.51.100.9']);
});

test.run();
