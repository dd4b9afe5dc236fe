import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  parseUci, serializeUci, exportUci, showUci, findSection, getOption, setOption, addList, ensureSection,
  isValidUciName, UciSyntaxError, type UciPackage,
} from '../../src-rpc/config/uci.ts';

// Oracle files made by the real `uci` CLI (test/fixtures/uci/README.md says how).
const FIXTURES = fileURLToPath(new URL('../fixtures/uci/', import.meta.url));
const fixture = (name: string, file: string): string => readFileSync(`${FIXTURES}${name}/${file}`, 'utf8');

// The changes listed in the fixtures' README, applied before `uci commit`.
const CHANGES: Record<string, (pkg: UciPackage) => void> = {
  basic: (pkg) => {
    setOption(pkg, 'main', 'hostname', 'mx1');
    addList(pkg, 'main', 'extra_domain', "we'ird.example");
    setOption(pkg, 'ports', 'pop3', '110');
  },
  tricky: (pkg) => setOption(pkg, 'webmail', 'port', '8080'),
};

const section = (text: string, name = 'main') => {
  const s = findSection(parseUci(text), name);
  assert.ok(s, `section ${name}`);
  return s;
};
const options = (text: string, name = 'main') => Object.fromEntries(section(text, name).options);

for (const name of ['basic', 'tricky']) {
  test(`${name}: export of the parsed input is what uci exports`, () => {
    assert.fixture(exportUci(parseUci(fixture(name, 'input')), 'mailserver'), fixture(name, 'export'));
  });

  test(`${name}: show of the parsed input is what uci shows`, () => {
    assert.fixture(showUci(parseUci(fixture(name, 'input')), 'mailserver'), fixture(name, 'show'));
  });

  test(`${name}: the README's changes serialize to what uci commit wrote`, () => {
    const pkg = parseUci(fixture(name, 'input'));
    CHANGES[name]!(pkg);
    assert.fixture(serializeUci(pkg), fixture(name, 'committed'));
  });

  test(`${name}: parse(serialize(x)) round-trips, and uci's own files read back unchanged`, () => {
    const pkg = parseUci(fixture(name, 'input'));
    assert.equal(parseUci(serializeUci(pkg)), pkg);
    assert.equal(parseUci(fixture(name, 'export')), pkg);
    const committed = parseUci(fixture(name, 'committed'));
    assert.fixture(serializeUci(committed), fixture(name, 'committed'));
  });
}

const NASTY = [
  "it's", "''", "'\\''", '"double"', 'back\\slash', 'trailing\\', '\\', 'line one\nline two', '\n', '\r\n',
  'cr\rmid', '#hash', 'x#y', 'a;b', ';', 'semi; option b y', '  spaced  ', '\t', 'ünïcødé €', '😀',
  '$(reboot)', '`id`', "'; option evil 1; '", 'config x y', '\v\f', 'ends with quote\'',
];

test('nasty values round-trip through serialize and parse, as options and as list items', () => {
  const pkg: UciPackage = { sections: [{ type: 'mailserver', name: 'main', options: new Map() }] };
  NASTY.forEach((v, i) => setOption(pkg, 'main', `o${i}`, v));
  for (const v of NASTY) addList(pkg, 'main', 'items', v);
  addList(pkg, 'main', 'items', ''); // empty list items are kept
  const back = parseUci(serializeUci(pkg));
  assert.equal(back, pkg);
  NASTY.forEach((v, i) => assert.is(getOption(back, 'main', `o${i}`), v, JSON.stringify(v)));
  assert.equal(parseUci(exportUci(pkg, 'mailserver')), pkg);
});

test('random strings of special characters round-trip', () => {
  const alphabet = ["'", '"', '\\', '#', ';', ' ', '\t', '\r', '\n', 'a', 'é', '😀', '$'];
  let seed = 12345;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  for (let round = 0; round < 300; round++) {
    let v = '';
    for (let len = 1 + rand(12); len > 0; len--) v += alphabet[rand(alphabet.length)];
    const pkg: UciPackage = { sections: [{ type: 't', name: null, options: new Map<string, string | string[]>([['v', v], ['l', [v, v]]]) }] };
    assert.equal(parseUci(serializeUci(pkg)), pkg, JSON.stringify(v));
  }
});

test('unknown sections and options survive setting another option', () => {
  const input = [
    '# hand-written',
    "config mailserver 'main'",
    "\toption hostname 'mail'",
    "\toption custom_knob 'keep me'",
    "\tlist custom_list 'a'",
    "\tlist custom_list 'b'",
    '',
    "config wifi-iface 'radio0'", // a type with '-' as OpenWrt's wireless config has
    "\toption ssid 'x'",
    '',
    'config extra',
    "\toption z '1'",
    '',
  ].join('\n');
  const pkg = parseUci(input);
  setOption(pkg, 'main', 'hostname', 'mx1');
  setOption(pkg, 'main', 'added', 'new');
  assert.fixture(serializeUci(pkg), [
    '',
    "config mailserver 'main'",
    "\toption hostname 'mx1'",
    "\toption custom_knob 'keep me'",
    "\tlist custom_list 'a'",
    "\tlist custom_list 'b'",
    "\toption added 'new'",
    '',
    "config wifi-iface 'radio0'",
    "\toption ssid 'x'",
    '',
    'config extra',
    "\toption z '1'",
    '',
    '',
  ].join('\n'));
});

test('setOption: null, empty string and empty list delete; a missing section throws', () => {
  const text = "config s main\n\toption a 1\n\toption b 2\n\toption c 3\n\tlist d x\n";
  const pkg = parseUci(text);
  setOption(pkg, 'main', 'a', null);
  setOption(pkg, 'main', 'b', '');
  setOption(pkg, 'main', 'd', []);
  setOption(pkg, 'main', 'gone', null); // deleting what is not there is fine
  assert.equal([...findSection(pkg, 'main')!.options], [['c', '3']]);
  assert.throws(() => setOption(pkg, 'nope', 'a', 'x'), /not found/);
  assert.throws(() => addList(pkg, 'nope', 'a', 'x'), /not found/);
  assert.is(getOption(pkg, 'nope', 'a'), undefined);
  assert.throws(() => setOption(pkg, 'main', 'bad-name', 'x'), /option name/);
  assert.throws(() => setOption(pkg, 'main', 'a', 'nul\0'), /NUL/);
});

test('setOption keeps the position of an existing option; a list replaces a value in place', () => {
  const pkg = parseUci("config s main\n\toption a 1\n\toption b 2\n");
  setOption(pkg, 'main', 'a', ['x', 'y']);
  setOption(pkg, 'main', 'c', '3');
  assert.equal([...findSection(pkg, 'main')!.options], [['a', ['x', 'y']], ['b', '2'], ['c', '3']]);
});

test('addList turns a plain option into a list with the old value first', () => {
  const pkg = parseUci("config s main\n\toption a 1\n\toption b 2\n");
  addList(pkg, 'main', 'a', 'two');
  addList(pkg, 'main', 'new', '');
  assert.equal(Object.fromEntries(findSection(pkg, 'main')!.options), { a: ['1', 'two'], b: '2', new: [''] });
});

test('findSection: by name, @type[N], negative N from the end, @[N] of any type', () => {
  const pkg = parseUci(fixture('basic', 'input'));
  assert.is(findSection(pkg, 'ports')!.type, 'ports');
  assert.is(findSection(pkg, '@peer[0]')!.options.get('name'), 'node-a');
  assert.is(findSection(pkg, '@peer[1]')!.options.get('name'), 'node b');
  assert.is(findSection(pkg, '@peer[-1]')!.options.get('name'), 'node b');
  assert.is(findSection(pkg, '@peer[-2]')!.options.get('name'), 'node-a');
  assert.is(findSection(pkg, '@peer[2]'), undefined);
  assert.is(findSection(pkg, '@peer[-3]'), undefined);
  assert.is(findSection(pkg, '@mailserver[0]')!.name, 'main'); // named sections count too
  assert.is(findSection(pkg, '@[1]')!.name, 'ports');
  assert.is(findSection(pkg, 'nope'), undefined);
  assert.is(findSection(pkg, '@peer'), undefined);
  assert.is(getOption(pkg, '@peer[-1]', 'tag')?.toString(), 'x,');
});

test('show numbers @type[N] over all sections of the type, named ones included', () => {
  const pkg = parseUci("config peer 'first'\nconfig peer\n\toption n 1\n");
  assert.is(showUci(pkg, 'p'), "p.first=peer\np.@peer[1]=peer\np.@peer[1].n='1'\n");
  assert.is(findSection(pkg, '@peer[1]')!.options.get('n'), '1');
});

test('ensureSection returns the named section or appends it', () => {
  const pkg = parseUci("config mailserver 'main'\n\toption a 1\n");
  assert.is(ensureSection(pkg, 'mailserver', 'main'), pkg.sections[0]);
  const created = ensureSection(pkg, 'ports', 'ports');
  assert.is(pkg.sections.at(-1), created);
  assert.equal(created, { type: 'ports', name: 'ports', options: new Map() });
  assert.throws(() => ensureSection(pkg, 'other', 'main'), /type/);
  assert.throws(() => ensureSection(pkg, 'ports', 'bad name'), /name/);
});

test('parser follows libuci on the odd corners', () => {
  // `;` after a quoted value separates commands; after a plain word it ends the line (fixture: tricky).
  assert.equal(options("config s main\n\toption a 'x'; option b y\n"), { a: 'x', b: 'y' });
  assert.equal(options('config s main\n\toption a x ; option b y\n'), { a: 'x', b: 'y' });
  assert.equal(options('config s main\n\toption a x;option b y\n'), { a: 'x' });
  // Escapes: outside quotes and in double quotes a backslash takes the next char; single quotes are literal.
  assert.equal(options("config s main\n\toption a a\\ b\\'c\n\toption b 'a\\b'\n\toption c \"a\\\\b\\\"\"\n"),
    { a: "a b'c", b: 'a\\b', c: 'a\\b"' });
  // A backslash at the end of a line joins the next one, inside double quotes too (also before CRLF).
  assert.equal(options('config s main\n\toption a "one\\\ntwo"\r\n\toption b x\\\r\ny\r\n'), { a: 'onetwo', b: 'xy' });
  // Quoted values span lines and keep the line break as it is in the file, CR included.
  assert.equal(options("config s main\r\n\toption a 'x\r\ny'\r\n"), { a: 'x\r\ny' });
  // An option given twice keeps its first place; an empty one is not stored and does not delete.
  assert.equal([...section("config s main\n\toption a 1\n\toption b 2\n\toption a 3\n\toption a ''\n").options],
    [['a', '3'], ['b', '2']]);
  // `option` then `list` of the same name: one list, old value first; a bare `list x` adds ''.
  assert.equal(options('config s main\n\toption a 1\n\tlist a 2\n\tlist e\n'), { a: ['1', '2'], e: [''] });
  // A repeated section name reopens the section; `config t ''` is anonymous; c/o/l abbreviate.
  const pkg = parseUci("config s main\n\toption a 1\nconfig t ''\nconfig s 'main'\n\toption b 2\nc t\no x 1\nl y 2\n");
  assert.equal(pkg.sections.map((s) => s.name), ['main', null, null]);
  assert.equal(Object.fromEntries(pkg.sections[0]!.options), { a: '1', b: '2' });
  assert.equal(Object.fromEntries(pkg.sections[2]!.options), { x: '1', y: ['2'] });
  // Comments, blank lines, `package` lines and a missing final newline.
  assert.equal(options("  # c\npackage 'other-name'\n\n\tconfig s main # c\n\toption a 'b'#c\n\toption c d"), { a: 'b', c: 'd' });
  assert.equal(parseUci(''), { sections: [] });
  assert.is(serializeUci(parseUci('')), '\n');
});

const ERRORS: [input: string, line: number, message: RegExp][] = [
  ['\n\n\toption a b\n', 3, /before the first section/],
  ['config s main\n\tlist a b\nfoo bar\n', 3, /invalid command/],
  ['config s main\n\toptions a b\n', 2, /invalid command/],
  ['config s main\n\toption bad-name x\n', 2, /invalid character in name/],
  ['config s bad.name\n', 1, /invalid character in name/],
  ["config 'a b'\n", 1, /invalid character in type/],
  ['config s main\n\toption\n', 2, /invalid command/], // `option\n` is not the word `option`
  ['config s main\n\toption', 2, /option without name/],
  ['config s main\n\toption a x y\n', 2, /too many arguments/],
  ['config s main extra\n', 1, /too many arguments/],
  ["config s main\n\toption a ''\n\toption '' x\n", 3, /insufficient arguments/],
  ["config s main\n\toption a 'open\n\n\n", 4, /unterminated ' \(opened on line 2\)/],
  ['config s main\n\toption a "open\\"', 2, /unterminated "/],
  ['config s main\r\n\toption x 1\r\n\toption y-z 1\r\n', 3, /name/],
  ['config s main\n\toption x long\\\nvalue\n\toption y-z 1\n', 4, /name/],
  ['config s main\nconfig t main\n', 2, /different type/],
  ['config s main\n\toption a x\0\n', 2, /NUL/],
];

test('syntax errors carry the line number', () => {
  for (const [input, line, message] of ERRORS) {
    try {
      parseUci(input);
      assert.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (e) {
      assert.instance(e, UciSyntaxError, JSON.stringify(input));
      assert.is((e as UciSyntaxError).line, line, JSON.stringify(input));
      assert.match((e as UciSyntaxError).message, message, JSON.stringify(input));
    }
  }
});

test('the writer refuses what it cannot write faithfully', () => {
  const write = (type: string, name: string | null, opts: [string, string | string[]][]) =>
    () => serializeUci({ sections: [{ type, name, options: new Map(opts) }] });
  assert.not.throws(write('wifi-iface', 'ok_1', [['a', 'b']]));
  assert.throws(write('bad type', null, []), /type/);
  assert.throws(write("it's", null, []), /type/);
  assert.throws(write('a#b', null, []), /type/);
  assert.throws(write('', null, []), /type/);
  assert.throws(write('t', 'bad-name', []), /name/);
  assert.throws(write('t', '', []), /name/);
  assert.throws(write('t', null, [['bad.opt', 'x']]), /option name/);
  assert.throws(write('t', null, [['a', 'nul\0']]), /NUL/);
  assert.throws(write('t', null, [['a', ['ok', 'nul\0']]]), /NUL/);
  const twice = { sections: [{ type: 't', name: 'x', options: new Map() }, { type: 't', name: 'x', options: new Map() }] };
  assert.throws(() => serializeUci(twice), /duplicate/);
});

test('isValidUciName', () => {
  for (const ok of ['a', 'A_1', '_', '0']) assert.ok(isValidUciName(ok), ok);
  for (const bad of ['', 'a-b', 'a.b', 'a b', 'é', "a'"]) assert.not.ok(isValidUciName(bad), bad);
});

test.run();
