import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ValidationError,
  absolutePath,
  aliasSource,
  boolean,
  domainName,
  emailAddress,
  formatSize,
  hostLabelOrFqdn,
  integer,
  ipAddress,
  localPart,
  oneOf,
  ownAddress,
  password,
  port,
  relayHost,
  size,
} from '../../src-rpc/config/validate.ts';

type Validator = (field: string, v: unknown) => unknown;

const CONTROL = ['a\nb', 'a\r\nb', 'a\0b', 'a\tb', 'a\x1b[31mb', 'a\u0085b', 'a\u202eb', 'a\u2028b'];
const SHELL = ['a;b', 'a|b', 'a&b', 'a$b', '$(reboot)', 'a`id`', 'a(b)'];
const TRAVERSAL = ['../etc', 'a/../../etc', '..'];
const LONG = 'a'.repeat(10_000);
const NON_ASCII = ['müller.de', 'пример.рф', 'a\u00a0b', '例え'];
const TYPES: unknown[] = [42, 1.5, {}, [], ['x'], null, undefined, true, () => 'x'];

/** Assert `fn` rejects `v` with a ValidationError for `field` and a message safe to print. */
function rejects(fn: Validator, v: unknown, secret = false): ValidationError {
  const field = 'the_field';
  let err: unknown;
  try {
    fn(field, v);
  } catch (e) {
    err = e;
  }
  if (err === undefined) assert.unreachable(`accepted ${JSON.stringify(v)?.slice(0, 80)}`);
  assert.instance(err, ValidationError, `${String(err)}`);
  const e = err as ValidationError;
  assert.is(e.field, field);
  assert.is(e.code, 'invalid_argument');
  assert.ok(e.message.length > 0 && e.message.length < 300, `message length ${e.message.length}`);
  assert.not.match(e.message, /[\p{Cc}\u2028\u2029\u202e]/u, `raw control char in ${JSON.stringify(e.message)}`);
  if (typeof v === 'string' && (secret || v.length > 40 || /[\p{Cc}\p{Cf}]/u.test(v))) {
    assert.not.ok(e.message.includes(v), `message echoes input: ${JSON.stringify(e.message)}`);
  }
  return e;
}

function rejectsAll(fn: Validator, values: unknown[]): void {
  for (const v of values) rejects(fn, v);
}

function accepts(fn: Validator, cases: [unknown, unknown][]): void {
  for (const [input, expected] of cases) assert.equal(fn('f', input), expected, `input ${JSON.stringify(input)}`);
}

test('ValidationError shape', () => {
  const e = new ValidationError('domain', 'bad');
  assert.instance(e, Error);
  assert.is(e.name, 'ValidationError');
  assert.is(e.field, 'domain');
  assert.is(e.code, 'invalid_argument');
  assert.is(e.message, 'bad');
});

test('domainName', () => {
  accepts(domainName, [
    ['example.com', 'example.com'],
    ['Mail.Example.COM', 'mail.example.com'],
    ['example.com.', 'example.com'],
    ['xn--mller-kva.de', 'xn--mller-kva.de'],
    ['a-b.c0.io', 'a-b.c0.io'],
    ['123.example.net', '123.example.net'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
  ]);
  rejectsAll(domainName, [
    ...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG,
    '', 'com', 'a:b.com', 'ex ample.com', '-a.com', 'a-.com', 'a..com', '.com', 'example.com..',
    '1.2.3.4', 'example.123', 'a_b.com', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`,
    'example.com\n', ' example.com',
  ]);
  assert.match(rejects(domainName, 'müller.de').message, /xn--mller-kva\.de/);
});

test('hostLabelOrFqdn', () => {
  accepts(hostLabelOrFqdn, [['mail', 'mail'], ['MX1', 'mx1'], ['mail.example.com', 'mail.example.com']]);
  rejectsAll(hostLabelOrFqdn, [...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG, '', '-mail', 'mail-', 'ma_il', 'a'.repeat(64), 'mail:25']);
});

test('localPart', () => {
  accepts(localPart, [
    ['John.Doe', 'john.doe'],
    ['info', 'info'],
    ['a+tag', 'a+tag'],
    ["o'neil", "o'neil"],
    ['x_y-z=1', 'x_y-z=1'],
    ['a'.repeat(64), 'a'.repeat(64)],
  ]);
  rejectsAll(localPart, [
    ...CONTROL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG,
    'a;b', '$(reboot)', 'a(b)', 'a b', '"a"', 'a:b', 'a/b', 'a..b', '.a', 'a.', 'a@b', 'a\\b', 'a,b',
    '#x', '-x', '', 'a'.repeat(65),
  ]);
});

test('emailAddress', () => {
  accepts(emailAddress, [
    ['User@Example.COM', 'user@example.com'],
    ['first.last+tag@mail.example.org.', 'first.last+tag@mail.example.org'],
  ]);
  rejectsAll(emailAddress, [
    ...CONTROL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG, `${LONG}@example.com`,
    'user', '@example.com', 'user@', 'a@b@example.com', 'user@localhost', 'us er@example.com',
    'user;reboot@example.com', 'user@exa;mple.com', 'user@example.com\n', 'user:x@example.com',
    '../x@example.com', 'x/y@example.com', 'usér@example.com', 'user@müller.de',
    `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
  ]);
});

test('ownAddress: our own mailbox names refuse what is legal but hostile elsewhere', () => {
  accepts(ownAddress, [
    ['Jean.Dupont@Example.com', 'jean.dupont@example.com'],
    ['info_desk-2@example.org', 'info_desk-2@example.org'],
  ]);
  rejectsAll(ownAddress, [
    ...SHELL.map((x) => `${x}@example.com`), '`id`@example.com', "o'brien@example.com", 'a+b@example.com',
    '.a@example.com', 'a.@example.com', '-a@example.com', 'a..b@example.com', '#a@example.com',
  ]);
  // The same names are fine as outside addresses (alias targets).
  accepts(emailAddress, [["o'brien@example.net", "o'brien@example.net"]]);
});

test('aliasSource', () => {
  accepts(aliasSource, [
    ['Sales@Example.com', 'sales@example.com'],
    ['@Example.com', '@example.com'],
  ]);
  rejectsAll(aliasSource, [...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG, '@', '@@example.com', '@com', 'example.com']);
});

test('password: kept as typed, never echoed', () => {
  for (const pw of ['Secret123', 'family 👨\u200d👩\u200d👧 pw', 'pä ss:wörd;$(x)`|&', '  spaces around  ', '密码密码密码密码', '😀😀😀😀😀😀😀😀', 'x'.repeat(1024)]) {
    assert.is(password('pw', pw), pw);
  }
  const bad = [
    ...CONTROL.filter((c) => !c.includes('\u202e')).map((c) => `longenough${c}`), 'abc1234', '😀😀😀😀😀😀😀', 'x'.repeat(1025), LONG,
    'good password\n', 'good\0password', 'lone \ud800 surrogate',
  ];
  for (const pw of bad) rejects(password, pw, true);
  rejectsAll(password, TYPES);
});

test('size and formatSize', () => {
  accepts(size, [
    ['0', 0], [0, 0], ['512M', 512 * 1024 ** 2], ['1G', 1024 ** 3], ['1.5G', 1.5 * 1024 ** 3], ['100K', 102400],
    ['2T', 2 * 1024 ** 4], ['1048576', 1048576], [1048576, 1048576], ['1g', 1024 ** 3], ['0K', 0],
    ['9007199254740991', 2 ** 53 - 1],
  ]);
  rejectsAll(size, [
    ...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, LONG,
    '', '-1', -1, '1e9', 1.5, NaN, Infinity, 2 ** 53, '9007199254740992', '99999999999T', '1.5', '1 G', 'G', '1GB',
    '1,5G', '+1G', '0x10', {}, [], null, undefined, true,
  ]);
  assert.is(formatSize(0), '0');
  assert.is(formatSize(1073741824), '1G');
  assert.is(formatSize(512 * 1024 ** 2), '512M');
  assert.is(formatSize(1.5 * 1024 ** 3), '1536M');
  assert.is(formatSize(2 * 1024 ** 4), '2T');
  assert.is(formatSize(100 * 1024), '100K');
  assert.is(formatSize(1000), '1000');
  assert.is(formatSize(1025), '1025');
  for (const s of ['512M', '1G', '3T', '7K', '1000', '0']) assert.is(formatSize(size('f', s)), s);
});

test('port', () => {
  accepts(port, [[0, 0], [25, 25], ['587', 587], [65535, 65535], ['0', 0]]);
  rejectsAll(port, [...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, LONG, 65536, -1, '-1', 1.5, '25a', '0x19', '', ' 25', '2 5', NaN, {}, [], null, undefined, true, [25]]);
});

test('integer', () => {
  const oneToTen = (f: string, v: unknown): number => integer(f, v, 1, 10);
  accepts(oneToTen, [[1, 1], ['10', 10], [5, 5], ['007', 7]]);
  rejectsAll(oneToTen, [...CONTROL, ...SHELL, ...NON_ASCII, LONG, 0, 11, '11', '1.5', 1.5, '', 'ten', NaN, Infinity, {}, [], null, undefined, true]);
});

test('ipAddress', () => {
  accepts(ipAddress, [
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::1', '::1'],
    ['::', '::'],
  ]);
  rejectsAll(ipAddress, [
    ...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG,
    '', '01.2.3.4', '256.1.1.1', '1.2.3', 'fe80::1%eth0', 'example.com', '::1\n', '1.2.3.4 ', 'a:b', '[::1]', ':::',
  ]);
});

test('relayHost', () => {
  accepts(relayHost, [
    ['smtp.example.com', 'smtp.example.com'],
    ['SMTP.Example.com:587', 'smtp.example.com:587'],
    ['[smtp.example.com]:587', '[smtp.example.com]:587'],
    ['[smtp.example.com]', '[smtp.example.com]'],
    ['gateway', 'gateway'],
    ['[192.0.2.1]', '[192.0.2.1]'],
    ['192.0.2.1:25', '[192.0.2.1]:25'],
    ['[2001:DB8::1]:587', '[2001:db8::1]:587'],
    ['relay.example.com:0587', 'relay.example.com:587'],
  ]);
  rejectsAll(relayHost, [
    ...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG,
    '', '2001:db8::1', 'host:0', 'host:65536', 'host:', '[host', 'host]:25', 'a:b:c', '[]', ':25',
    'smtp.example.com:25,other', 'smtp.example.com smtp2', '[[host]]', 'host:25\n', '[01.2.3.4]',
  ]);
});

test('absolutePath', () => {
  accepts(absolutePath, [
    ['/', '/'],
    ['/srv/mailserver', '/srv/mailserver'],
    ['/srv/mailserver/', '/srv/mailserver'],
    ['//srv//./mail/.', '/srv/mail'],
    ['/opt/Mail_Data-1.2', '/opt/Mail_Data-1.2'],
  ]);
  rejectsAll(absolutePath, [
    ...CONTROL.map((c) => `/srv/${c}`), ...SHELL.map((c) => `/srv/${c}`), ...NON_ASCII.map((c) => `/srv/${c}`), ...TYPES,
    ...TRAVERSAL, `/${LONG}`, '', 'srv/mail', './srv', '/srv/../etc', '/srv/..', '/a b', '/a:b', '/a%d', '/a,b', '/a"b',
    '/srv/mail\n', '~/mail',
  ]);
});

test('boolean', () => {
  accepts(boolean, [
    [true, true], [false, false], [1, true], [0, false], ['1', true], ['0', false], ['yes', true], ['no', false],
    ['on', true], ['off', false], ['true', true], ['false', false], ['YES', true], ['Off', false],
  ]);
  rejectsAll(boolean, [...CONTROL, ...SHELL, ...NON_ASCII, LONG, 'maybe', '', 2, -1, 1.5, 'yes\n', ' 1', {}, [], null, undefined]);
});

test('oneOf', () => {
  const runtime = (f: string, v: unknown): string => oneOf(f, v, ['lxc', 'host'] as const);
  accepts(runtime, [['lxc', 'lxc'], ['host', 'host']]);
  rejectsAll(runtime, [...CONTROL, ...SHELL, ...TRAVERSAL, ...NON_ASCII, ...TYPES, LONG, 'LXC', 'lxc\n', 'host;reboot', '', 'toString']);
  assert.match(rejects(runtime, 'docker').message, /lxc, host/);
});

test('messages quote short input and truncate long input', () => {
  assert.match(rejects(domainName, 'exa mple.com').message, /"exa mple\.com"/);
  const e = rejects(domainName, `${'x'.repeat(100)}.com`);
  assert.ok(e.message.length < 200);
  assert.match(rejects(localPart, 'a\nb').message, /"a\\nb"/);
});

test.run();
