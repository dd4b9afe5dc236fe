// The backup format's rules without any file: which names and links a backup may hold, which
// headers are refused, and which UCI options a restore keeps from the restoring machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkEntryName, checkEntryType, parseHeader, mailboxOfMessage, FORMAT_VERSION } from '../../src-rpc/mesh/format.ts';
import { keepMachineOptions } from '../../src-rpc/mesh/machine-options.ts';
import { parseUci } from '../../src-rpc/config/uci.ts';

const refused = (fn: () => unknown, reason: RegExp) => {
  try {
    fn();
  } catch (e) {
    assert.match((e as Error).message, reason);
    return;
  }
  assert.unreachable('was accepted');
};

test('names: only BACKUP.json, MANIFEST.json, uci/ and data/{config,secrets,ssl,mail}', () => {
  for (const ok of ['BACKUP.json', 'MANIFEST.json', 'uci', 'uci/mailserver', 'data', 'data/mail/', 'data/mail/example.com/a/cur/1:2,S', 'data/ssl/gen/x/privkey.pem']) checkEntryName(ok);
  refused(() => checkEntryName('/etc/passwd'), /absolute path/);
  refused(() => checkEntryName('data/mail/../../etc'), /leaves its folder/);
  refused(() => checkEntryName('data/./mail'), /leaves its folder/);
  refused(() => checkEntryName('data//mail'), /leaves its folder/);
  refused(() => checkEntryName('data/state/postfix'), /unknown entry/);
  refused(() => checkEntryName('etc/shadow'), /unknown entry/);
  refused(() => checkEntryName('uci/other'), /unknown entry/);
});

test('types: files and folders; links only the certificate own three, pointing where ssl/files.ts points', () => {
  assert.is(checkEntryType('data/mail/x', 'file', undefined), 'file');
  assert.is(checkEntryType('data/ssl/live', 'symlink', 'gen/20260101T000000'), 'symlink');
  assert.is(checkEntryType('data/ssl/fullchain.pem', 'symlink', 'live/fullchain.pem'), 'symlink');
  refused(() => checkEntryType('data/ssl/live', 'symlink', '../../../etc'), /symlink/);
  refused(() => checkEntryType('data/ssl/privkey.pem', 'symlink', '/etc/shadow'), /symlink/);
  refused(() => checkEntryType('data/mail/evil', 'symlink', 'cur'), /symlink/);
  refused(() => checkEntryType('data/mail/evil', 'link', 'data/mail/x'), /link/);
  refused(() => checkEntryType('data/mail/dev', 'character-device', undefined), /character-device/);
  refused(() => checkEntryType('data/mail/fifo', 'fifo', undefined), /fifo/);
});

test('header: a newer format is refused with what to do', () => {
  const h = (format: unknown) => JSON.stringify({ format, node: 'mail.example.com', created: '2026-01-01T00:00:00.000Z' });
  assert.is(parseHeader(h(FORMAT_VERSION)).node, 'mail.example.com');
  refused(() => parseHeader(h(FORMAT_VERSION + 1)), /newer than this mailctl reads.*update mailctl/);
  refused(() => parseHeader(h('1')), /lacks format/);
  refused(() => parseHeader('not json'), /not JSON/);
});

test('messages are counted per mailbox from maildir paths, folders included', () => {
  assert.is(mailboxOfMessage('data/mail/example.com/alice/cur/1.M1:2,S'), 'alice@example.com');
  assert.is(mailboxOfMessage('data/mail/example.com/alice/.Sent/new/2.M2'), 'alice@example.com');
  assert.is(mailboxOfMessage('data/mail/example.com/alice/dovecot-uidlist'), null);
  assert.is(mailboxOfMessage('data/mail/example.com/alice/tmp/3'), null);
});

test('a restored UCI file keeps this machine: data_path, listen, runtime, ports, mesh', () => {
  const theirs = `config mailserver 'main'\n\toption domain 'a.example'\n\toption data_path '/mnt/a'\n\toption listen '10.0.0.1'\n\toption runtime 'lxc'\n\nconfig ports 'ports'\n\toption smtp '25'\n\toption imap '143'\n\nconfig mesh 'mesh'\n\tlist backup_peers 'b.example'\n\nconfig dns 'dns'\n\toption provider 'nsupdate'\n`;
  const mine = parseUci(`config mailserver 'main'\n\toption domain 'b.example'\n\toption data_path '/srv/mailserver'\n\toption runtime 'host'\n\nconfig ports 'ports'\n\toption smtp '2525'\n`);
  const out = parseUci(keepMachineOptions(theirs, mine));
  const main = out.sections.find((s) => s.name === 'main')!;
  assert.is(main.options.get('domain'), 'a.example');
  assert.is(main.options.get('data_path'), '/srv/mailserver');
  assert.is(main.options.get('runtime'), 'host');
  assert.is(main.options.has('listen'), false);
  assert.equal([...out.sections.find((s) => s.name === 'ports')!.options], [['smtp', '2525']]);
  assert.is(out.sections.some((s) => s.name === 'mesh'), false);
  assert.is(out.sections.find((s) => s.name === 'dns')!.options.get('provider'), 'nsupdate');
});

test.run();
