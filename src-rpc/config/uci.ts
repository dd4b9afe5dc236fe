// OpenWrt UCI config files: a pure parser and writer that agree with libuci (uci commit 66127cd).
//
// The parser mirrors libuci's file.c step by step (its line buffer, parse_str, next_arg,
// assert_eol, parse_line) rather than a tidy grammar, because several of uci's rules only make
// sense as side effects of that code: `option a x; option b y` keeps only `a` (the `;` after a
// plain word is overwritten by the value's terminating NUL) while `option a 'x'; option b y`
// sets both. uci runs in strict mode (the CLI default): any parse error rejects the file.
// The writer produces what `uci commit` / `uci export` / `uci show` print, byte for byte.

export interface UciSection {
  type: string;
  /** null for an anonymous section (`config peer`), shown by uci as `@peer[N]`. */
  name: string | null;
  /** Insertion order = file order; a string[] is a `list`. */
  options: Map<string, string | string[]>;
}

export interface UciPackage {
  sections: UciSection[];
}

export class UciSyntaxError extends Error {
  /** 1-based: the line the parser had reached, as uci counts it (the last line of a multi-line value). */
  line: number;
  constructor(message: string, line: number) {
    super(message);
    this.name = 'UciSyntaxError';
    this.line = line;
  }
}

/** Section and option names: what uci accepts (and what is safe in shell variable names). */
export const isValidUciName = (s: string): boolean => /^[A-Za-z0-9_]+$/.test(s);
/** uci accepts any printable ASCII in a section type (OpenWrt has `wifi-iface`). */
const isValidType = (s: string): boolean => /^[\x21-\x7e]+$/.test(s);
/** uci writes the type unquoted, so these would be read back as something else. */
const isWritableType = (s: string): boolean => isValidType(s) && !/['"\\#;]/.test(s);
const isValidPackageName = (s: string): boolean => /^[A-Za-z0-9_-]+$/.test(s);
/** C isspace(): space, \t \n \v \f \r. */
const isSpace = (c: string): boolean => c === ' ' || (c >= '\t' && c <= '\r');

const COMMANDS = new Map([
  ['p', 'package'], ['package', 'package'], ['c', 'config'], ['config', 'config'],
  ['o', 'option'], ['option', 'option'], ['l', 'list'], ['list', 'list'],
]);

/** Offsets in the text read: a section's `config` line up to the end of its last option or list line. */
export interface UciSpan {
  start: number;
  end: number;
}

class Parser {
  readonly pkg: UciPackage = { sections: [] };
  /** Where each section was written; a name repeated later in the file adds a span. */
  readonly spans = new Map<UciSection, UciSpan[]>();
  private section: UciSection | null = null;
  /** Offset in `text` of the physical line being parsed. */
  private lineStart = 0;
  /** libuci's line buffer: the current line with its '\n', extended by continuations and multi-line quotes. */
  private buf = '';
  private pos = 0;
  private line = 0;
  /** Offset in `text` of the next line not yet read. */
  private next = 0;

  constructor(private readonly text: string) {}

  parse(): UciPackage {
    const nul = this.text.indexOf('\0');
    if (nul >= 0) throw new UciSyntaxError('NUL character in file', this.text.slice(0, nul).split('\n').length);
    while (this.next < this.text.length) {
      this.pos = 0;
      this.lineStart = this.next;
      this.getln(0);
      this.parseLine();
    }
    return this.pkg;
  }

  private fail(reason: string): never {
    throw new UciSyntaxError(reason, this.line);
  }

  private cur(): string {
    return this.buf[this.pos] ?? '';
  }

  private take(): string {
    return this.buf[this.pos++] ?? '';
  }

  /** uci_getln: replace the buffer from `at` on with the next line (at EOF just cut it there). */
  private getln(at: number): void {
    let end = this.text.length;
    if (this.next < end) {
      const nl = this.text.indexOf('\n', this.next);
      if (nl >= 0) end = nl + 1;
      this.line++;
    }
    this.buf = this.buf.slice(0, at) + this.text.slice(this.next, end);
    this.next = end;
  }

  /** Where libuci writes a NUL at the cursor: nothing after it on this line is read. */
  private cut(): void {
    this.buf = this.buf.slice(0, this.pos);
  }

  private skipSpace(): void {
    while (this.cur() !== '' && isSpace(this.cur())) this.pos++;
  }

  /** One physical line (plus what it pulls in); `;` may put several commands on it. */
  private parseLine(): void {
    this.skipSpace();
    for (;;) {
      // strtok(" \t"): the command word ends at a space or tab only, so `config\r\n` is no command.
      while (this.cur() === ' ' || this.cur() === '\t') this.pos++;
      const start = this.pos;
      while (this.cur() !== '' && this.cur() !== ' ' && this.cur() !== '\t') this.pos++;
      const word = this.buf.slice(start, this.pos);
      if (word === '' || word.startsWith('#')) return;
      const command = COMMANDS.get(word);
      if (command === undefined) this.fail('invalid command');
      if ((command === 'option' || command === 'list') && !this.section) {
        this.fail('option/list command found before the first section');
      }
      if (this.pos >= this.buf.length) this.fail(`${command} without name`);
      this.pos++; // the space or tab that ended the word
      if (command === 'package') this.parsePackage();
      else if (command === 'config') this.parseConfig();
      else this.parseOption(command === 'list');
    }
  }

  private parsePackage(): void {
    // Loading a file by name (as `uci export mailserver` does), uci checks and then ignores it.
    const name = this.nextArg(true);
    if (!isValidPackageName(name)) this.fail('invalid character in name field');
    this.assertEol();
  }

  private parseConfig(): void {
    const type = this.nextArg(true);
    if (!isValidType(type)) this.fail('invalid character in type field');
    const name = this.nextArg(false, true);
    this.assertEol();
    // `config peer ''` is anonymous too; a repeated name reopens the earlier section.
    const existing = name === '' ? undefined : this.pkg.sections.find((s) => s.name === name);
    if (existing && existing.type !== type) {
      this.fail('section of different type overwrites prior section with same name');
    }
    this.section = existing ?? { type, name: name === '' ? null : name, options: new Map() };
    if (!existing) this.pkg.sections.push(this.section);
    this.spans.set(this.section, [...(this.spans.get(this.section) ?? []), { start: this.lineStart, end: this.next }]);
  }

  private parseOption(list: boolean): void {
    const section = this.section!;
    const name = this.nextArg(true, true);
    const value = this.nextArg(false);
    this.assertEol();
    this.spans.get(section)!.at(-1)!.end = this.next;
    const old = section.options.get(name);
    if (list) {
      // An empty item is kept; an earlier `option` of that name becomes the list's first item.
      section.options.set(name, old === undefined ? [value] : [...(typeof old === 'string' ? [old] : old), value]);
    } else if (value !== '') {
      // Map.set keeps the position of an option set twice, as uci does. An empty value is not
      // stored (and, read from a file, does not delete an earlier one either).
      section.options.set(name, value);
    }
  }

  /** next_arg: one argument; '' if there is none. */
  private nextArg(required: boolean, isName = false): string {
    this.skipSpace();
    let value = '';
    if (this.cur() === ';') this.pos++; // a `;` where an argument should start ends the command
    else value = this.parseStr();
    if (value === '') {
      if (required) this.fail('insufficient arguments');
      return '';
    }
    if (isName && !isValidUciName(value)) this.fail('invalid character in name field');
    return value;
  }

  /** assert_eol (strict mode): a third argument is an error, a comment or `;` is not. */
  private assertEol(): void {
    this.skipSpace();
    if (this.nextArg(false) !== '') this.fail('too many arguments');
  }

  /** parse_str: quoted and unquoted pieces up to whitespace, concatenated. */
  private parseStr(): string {
    const start = this.pos;
    let out = '';
    let skipSeparator = true;
    scan: do {
      switch (this.cur()) {
        case "'":
        case '"':
          out += this.parseQuoted(this.cur());
          break;
        case '#': // a comment starts even mid-word: `x#y` is `x`
          this.cut();
          break scan;
        case '':
          break scan;
        case ';':
          skipSeparator = false;
          break scan;
        case '\\':
          if (this.parseBackslash()) out += this.take();
          break;
        default:
          out += this.take();
      }
    } while (this.cur() !== '' && !isSpace(this.cur()));
    if (this.cur() !== '' && skipSeparator) this.pos++;
    // libuci builds the value in place and NUL-terminates it at start + length. Only when nothing
    // was dropped (no quotes, no escapes) does that NUL land on the cursor: on a `;` it erases the
    // `;` and with it the rest of the line. That is why `option a x; option b y` keeps only `a`.
    if (start + out.length === this.pos) this.cut();
    return out;
  }

  /** Single quotes: all literal. Double quotes: a backslash takes the next char. Both may span lines. */
  private parseQuoted(quote: string): string {
    const openedOn = this.line;
    let out = '';
    this.pos++;
    for (;;) {
      const c = this.cur();
      if (c === quote) {
        this.pos++;
        return out;
      } else if (c === '') {
        this.getln(this.pos);
        if (this.cur() === '') this.fail(`EOF with unterminated ${quote} (opened on line ${openedOn})`);
      } else if (c === '\\' && quote === '"') {
        if (this.parseBackslash()) out += this.take();
      } else {
        out += this.take();
      }
    }
  }

  /** parse_backslash: at the end of a line it joins the next line (false), else escapes the next char (true). */
  private parseBackslash(): boolean {
    this.pos++;
    const rest = this.buf.slice(this.pos);
    if (rest === '' || rest === '\n' || rest === '\r\n') {
      this.getln(this.pos);
      return false;
    }
    return true;
  }
}

/** Reads what `uci` reads; throws UciSyntaxError where `uci` (strict, its default) refuses the file. */
export function parseUci(text: string): UciPackage {
  return new Parser(text).parse();
}

/** As parseUci, and where in `text` each section's lines are (to edit a file that is not all ours in place). */
export function parseUciSpans(text: string): { pkg: UciPackage; spans: Map<UciSection, UciSpan[]> } {
  const parser = new Parser(text);
  return { pkg: parser.parse(), spans: parser.spans };
}

/** uci_escape: everything goes in single quotes, a quote as '\'' . */
function quote(value: string): string {
  if (value.includes('\0')) throw new Error('UCI values cannot contain NUL');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The file exactly as `uci commit` writes it: no package line, a blank line before each section. */
export function serializeUci(pkg: UciPackage): string {
  const seen = new Set<string>();
  let out = '';
  for (const s of pkg.sections) {
    if (!isWritableType(s.type)) throw new Error(`invalid UCI section type: ${JSON.stringify(s.type)}`);
    if (s.name !== null) {
      // A repeated name would be merged with (or rejected against) the first one on reading.
      if (!isValidUciName(s.name) || seen.has(s.name)) throw new Error(`invalid or duplicate UCI section name: ${JSON.stringify(s.name)}`);
      seen.add(s.name);
    }
    out += `\nconfig ${s.type}${s.name === null ? '' : ` ${quote(s.name)}`}\n`;
    for (const [name, value] of s.options) {
      if (!isValidUciName(name)) throw new Error(`invalid UCI option name: ${JSON.stringify(name)}`);
      // An empty option would read back as absent, which is what uci means by it: leave it out.
      if (typeof value === 'string') out += value === '' ? '' : `\toption ${name} ${quote(value)}\n`;
      else for (const item of value) out += `\tlist ${name} ${quote(item)}\n`;
    }
  }
  return out + '\n';
}

/** As `uci export <packageName>`. */
export function exportUci(pkg: UciPackage, packageName: string): string {
  return `package ${packageName}\n${serializeUci(pkg)}`;
}

/** As `uci show <packageName>`: anonymous sections as @type[N], lists as 'a' 'b' on one line. */
export function showUci(pkg: UciPackage, packageName: string): string {
  const seenOfType = new Map<string, number>();
  let out = '';
  for (const s of pkg.sections) {
    // N counts every section of the type, named or not, so that @type[N] finds it again.
    const n = seenOfType.get(s.type) ?? 0;
    seenOfType.set(s.type, n + 1);
    const ref = `${packageName}.${s.name ?? `@${s.type}[${n}]`}`;
    out += `${ref}=${s.type}\n`;
    for (const [name, value] of s.options) {
      const shown = typeof value === 'string' ? quote(value) : value.map(quote).join(' ');
      out += `${ref}.${name}=${shown}\n`;
    }
  }
  return out;
}

/** By name, or as uci's `@type[N]` (N from 0; negative counts from the end; `@[N]` any type). */
export function findSection(pkg: UciPackage, name: string): UciSection | undefined {
  const ext = /^@([^[\]]*)\[(-?\d+)\]$/.exec(name);
  if (!ext) return pkg.sections.find((s) => s.name === name);
  const type = ext[1]!;
  const ofType = pkg.sections.filter((s) => type === '' || s.type === type);
  const n = Number(ext[2]);
  return ofType[n < 0 ? ofType.length + n : n];
}

export function getOption(pkg: UciPackage, section: string, option: string): string | string[] | undefined {
  return findSection(pkg, section)?.options.get(option);
}

function sectionFor(pkg: UciPackage, section: string, option: string): UciSection {
  const s = findSection(pkg, section);
  if (!s) throw new Error(`UCI section not found: ${section}`);
  if (!isValidUciName(option)) throw new Error(`invalid UCI option name: ${JSON.stringify(option)}`);
  return s;
}

function checkValue(value: string): string {
  if (value.includes('\0')) throw new Error('UCI values cannot contain NUL');
  return value;
}

/** As `uci set`: null, '' or [] deletes; an existing option keeps its place, a new one is appended. */
export function setOption(pkg: UciPackage, section: string, option: string, value: string | string[] | null): void {
  const s = sectionFor(pkg, section, option);
  if (value === null || value.length === 0) s.options.delete(option);
  else s.options.set(option, typeof value === 'string' ? checkValue(value) : value.map(checkValue));
}

/** As `uci add_list`: appends an item; an existing plain option becomes the list's first item. */
export function addList(pkg: UciPackage, section: string, option: string, value: string): void {
  const s = sectionFor(pkg, section, option);
  const old = s.options.get(option);
  const items = old === undefined ? [] : typeof old === 'string' ? [old] : old;
  s.options.set(option, [...items, checkValue(value)]);
}

/** The named section, appended if missing. A section of that name but another type is an error. */
export function ensureSection(pkg: UciPackage, type: string, name: string): UciSection {
  if (!isValidUciName(name)) throw new Error(`invalid UCI section name: ${JSON.stringify(name)}`);
  if (!isWritableType(type)) throw new Error(`invalid UCI section type: ${JSON.stringify(type)}`);
  const existing = pkg.sections.find((s) => s.name === name);
  if (existing && existing.type !== type) throw new Error(`UCI section ${name} has type ${existing.type}, not ${type}`);
  if (existing) return existing;
  const created: UciSection = { type, name, options: new Map() };
  pkg.sections.push(created);
  return created;
}
