// The user_import list parser: CSV and JSON lines, passwords or ready hashes, every line checked
// before anything is written, errors that name the line and never the password.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseImport } from '../../src-rpc/store/import.ts';
import { MailError } from '../../src-rpc/core/errors.ts';
import { sha512Crypt } from '../../src-rpc/sys/sha512crypt.ts';

const HASH = sha512Crypt('a-password-123', 'saltsalt');

function refused(text: string, pattern: RegExp): void {
  try {
    parseImport(text);
  } catch (e) {
    assert.instance(e, MailError);
    assert.is((e as MailError).code, 'invalid_argument');
    assert.is((e as MailError).field, 'data');
    assert.match((e as MailError).message, pattern);
    assert.not.match((e as MailError).message, /secret-pass/, 'no password in the message');
    return;
  }
  assert.unreachable(`accepted: ${JSON.stringify(text)}`);
}

test('CSV: header, RFC 4180 quotes, a ready hash (with or without {SHA512-CRYPT}), quotas, comments, CRLF', () => {
  const rows = parseImport(
    ['Address,Password,Quota', '# a comment', 'Anna@Example.com,"pa,ss ""quoted"" 1",2G', `ben@example.com,${HASH}`, `carl@example.com,{SHA512-CRYPT}${HASH},0`, ''].join('\r\n'),
  );
  assert.equal(rows, [
    { email: 'anna@example.com', password: 'pa,ss "quoted" 1', quota: 2 * 1024 ** 3 },
    { email: 'ben@example.com', hash: `{SHA512-CRYPT}${HASH}`, quota: null },
    { email: 'carl@example.com', hash: `{SHA512-CRYPT}${HASH}`, quota: 0 },
  ]);
});

test('JSON lines: address or email, password or hash, quota as text or bytes', () => {
  const rows = parseImport(
    [JSON.stringify({ address: 'a@example.com', password: 'secret-pass-1', quota: '1G' }), '', JSON.stringify({ email: 'b@example.com', hash: HASH, quota: 1024 })].join('\n'),
  );
  assert.equal(rows, [
    { email: 'a@example.com', password: 'secret-pass-1', quota: 1024 ** 3 },
    { email: 'b@example.com', hash: `{SHA512-CRYPT}${HASH}`, quota: 1024 },
  ]);
});

test('every bad line is refused with its number, never its password', () => {
  refused('a@example.com,secret-pass-1\nnot an address,secret-pass-2', /^line 2: /);
  refused('a@example.com,short', /^line 1: .*too short/);
  refused('a@example.com,secret-pass-1,lots', /^line 1: /);
  refused('a@example.com,secret-pass-1\nA@example.com,secret-pass-2', /^line 2: a@example.com is listed twice/);
  refused('a@example.com', /^line 1: expected address,password-or-hash/);
  refused('a@example.com,"secret-pass-1', /^line 1: expected/);
  refused('{"address":"a@example.com","password":"secret-pass-1"}\n{"address":"b@example.com"', /^line 2: not a JSON object/);
  refused('{"address":"a@example.com","hash":"$6$x$y"}', /^line 1: hash is not a SHA512-CRYPT hash/);
  refused(`{"address":"a@example.com","hash":"${HASH}","password":"secret-pass-1"}`, /^line 1: .*not both/);
  refused('{"address":"a@example.com","password":"secret-pass-1","admin":true}', /^line 1: unknown key "admin"/);
  refused('\n\n', /no mailbox/);
});

test.run();
