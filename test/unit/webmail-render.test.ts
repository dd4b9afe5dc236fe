// The pure renderers behind webmail and client autoconfig: Roundcube's marked block (kept
// bytes, idempotence, PHP quoting), Thunderbird's XML, Autodiscover and the Apple profile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settingsOfFile } from '../../src-rpc/config/load.ts';
import { renderRoundcubeBlock, withRoundcubeBlock, findRoundcubeBlock, phpString, type RoundcubeView } from '../../src-rpc/render/roundcube.ts';
import { renderThunderbirdConfig, renderAutodiscover, renderAutodiscoverCgi, renderMobileconfig, clientServers } from '../../src-rpc/render/autoconfig.ts';

const settings = (extra = '') =>
  settingsOfFile(`config mailserver 'main'\n\toption domain 'example.com'\n\toption hostname 'mail'\n\tlist extra_domain 'example.org'\n${extra}`);

const VIEW: RoundcubeView = {
  imap: { scheme: 'ssl', host: 'mail.example.com', port: 993 },
  smtp: { scheme: 'tls', host: 'mail.example.com', port: 587 },
  sieve: { scheme: 'tls', host: 'mail.example.com', port: 4190 },
  pinCertificate: true,
  desKey: 'abcdefghijklmnopqrstuvwx',
  productName: "Anna's Mail",
  usernameDomain: 'example.com',
};

test('phpString escapes quotes and backslashes and refuses line breaks', () => {
  assert.is(phpString("it's a \\ test"), "'it\\'s a \\\\ test'");
  assert.throws(() => phpString('a\nb'));
});

test('the block goes at the end (before a closing ?>), replaces itself, and keeps every other byte', () => {
  const block = renderRoundcubeBlock(VIEW);
  assert.match(block, /^\/\/ BEGIN secubox-mailserver/);
  assert.match(block, /\/\/ END secubox-mailserver\n$/);
  assert.match(block, /\$config\['product_name'\] = 'Anna\\'s Mail';/);
  assert.match(block, /'cafile' => __DIR__ \. '\/secubox-mailserver-ca\.pem'/);
  const owner = "<?php\n$config = [];\n$config['skin'] = 'elastic';\n";
  const once = withRoundcubeBlock(owner, block);
  assert.ok(once.startsWith(owner));
  assert.is(withRoundcubeBlock(once, block), once, 'idempotent');
  assert.is(findRoundcubeBlock(once), block);
  const withClose = withRoundcubeBlock(`${owner}?>\n`, block);
  assert.match(withClose, /\/\/ END secubox-mailserver\n\?>\n$/);
  // A changed setting rewrites the block in place; the owner's lines after it stay after it.
  const tail = "$config['support_url'] = 'https://help.example.net/';\n";
  const changed = withRoundcubeBlock(once + tail, renderRoundcubeBlock({ ...VIEW, productName: 'Other' }));
  assert.ok(changed.startsWith(owner));
  assert.ok(changed.endsWith(tail));
  assert.match(changed, /'Other'/);
  assert.not.match(changed, /Anna/);
  assert.throws(() => withRoundcubeBlock(`${owner}// BEGIN secubox-mailserver\n$x = 1;\n`, block), /without/);
});

test('without a pinned certificate the block still verifies, against the system CAs', () => {
  const block = renderRoundcubeBlock({ ...VIEW, pinCertificate: false, sieve: null });
  assert.match(block, /'verify_peer' => true/);
  assert.not.match(block, /cafile|managesieve/);
});

test('Thunderbird: implicit TLS first, POP3 only when on, SMTP 587 STARTTLS and 465, %EMAILADDRESS%', () => {
  const xml = renderThunderbirdConfig(settings());
  assert.match(xml, /<clientConfig version="1.1">/);
  assert.match(xml, /<domain>example\.com<\/domain>\n\s*<domain>example\.org<\/domain>/);
  const ports = [...xml.matchAll(/<port>(\d+)<\/port>\s*<socketType>(\w+)<\/socketType>/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.equal(ports, ['993 SSL', '143 STARTTLS', '995 SSL', '587 STARTTLS', '465 SSL']);
  assert.is(xml.match(/<username>%EMAILADDRESS%<\/username>/g)?.length, 5);
  const noPop = clientServers(settings("config ports 'ports'\n\toption pop3s '0'\n\toption imaps '0'\n"));
  assert.equal(noPop.map((c) => `${c.protocol} ${c.port}`), ['imap 143', 'smtp 587', 'smtp 465']);
});

test('Autodiscover: one server per protocol, the address escaped; the CGI never echoes what it does not accept', () => {
  const xml = renderAutodiscover(settings(), 'a&b@example.com');
  assert.match(xml, /<LoginName>a&amp;b@example\.com<\/LoginName>/);
  assert.equal([...xml.matchAll(/<Type>(\w+)<\/Type>/g)].map((m) => m[1]), ['IMAP', 'POP3', 'SMTP']);
  const dir = mkdtempSync(join(tmpdir(), 'autodiscover-'));
  try {
    const cgi = join(dir, 'cgi');
    writeFileSync(cgi, renderAutodiscoverCgi(settings()), { mode: 0o755 });
    const ask = (body: string, method = 'POST') =>
      spawnSync(cgi, [], { input: body, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', REQUEST_METHOD: method, CONTENT_LENGTH: String(Buffer.byteLength(body)) } }).stdout;
    assert.match(ask('<Request><EMailAddress>Bob@Example.ORG</EMailAddress></Request>'), /<LoginName>bob@example\.org<\/LoginName>/);
    for (const body of ["<EMailAddress>x'$(id)@example.com</EMailAddress>", '<EMailAddress>a@evil.example</EMailAddress>', '']) {
      const out = ask(body);
      assert.match(out, /<ErrorCode>600<\/ErrorCode>/, body);
      assert.not.match(out, /LoginName|uid=/);
    }
    assert.match(ask('', 'GET'), /<ErrorCode>600/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Apple profile: IMAP 993 and submission 587 for the address, stable UUIDs, no password', () => {
  const uuid = (name: string) => `UUID-${name.length}`;
  const a = renderMobileconfig(settings(), 'anna@example.com', uuid);
  assert.is(renderMobileconfig(settings(), 'anna@example.com', uuid), a);
  assert.match(a, /<key>IncomingMailServerPortNumber<\/key>\s*<integer>993<\/integer>/);
  assert.match(a, /<key>OutgoingMailServerPortNumber<\/key>\s*<integer>587<\/integer>/);
  assert.match(a, /<key>IncomingMailServerUsername<\/key>\s*<string>anna@example\.com<\/string>/);
  assert.not.match(a, /<key>(Incoming|Outgoing)Password<\/key>/);
});

test.run();
