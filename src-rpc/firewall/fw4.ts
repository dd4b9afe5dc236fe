// Our sections in OpenWrt's firewall config (fw4): add, replace and remove only them. The file
// is the router owner's, so it is edited in place: every byte outside our sections stays as it
// was (comments and layout included, which a whole-file `uci commit` would rewrite), our
// sections are written as `uci` writes them, and `clear` gives back the file as it was before.
import { MailError } from '../core/errors.ts';
import { parseUci, parseUciSpans, serializeUci, UciSyntaxError, type UciSection, type UciSpan } from '../config/uci.ts';
import { openingSection, wantedOpenings, SECTION_PREFIX } from '../render/firewall.ts';
import { readBytes, statOrNull, writeAtomic, exists } from '../sys/fs.ts';
import { hostPath } from '../sys/paths.ts';
import { run } from '../sys/spawn.ts';
import type { Settings } from '../config/settings.ts';

export const FIREWALL_FILE = '/etc/config/firewall';
const FIREWALL_INIT = '/etc/init.d/firewall';

const isOurs = (s: UciSection): boolean => (s.type === 'rule' || s.type === 'redirect') && (s.name?.startsWith(SECTION_PREFIX) ?? false);

interface FirewallFile {
  text: string;
  ours: UciSection[];
  /** The file without our sections: what the owner wrote. */
  theirs: string;
}

/** Bytes as latin1 so that any byte (UTF-8 or not) survives the round trip unchanged. */
function readFirewall(): FirewallFile | null {
  const bytes = readBytes(hostPath(FIREWALL_FILE));
  if (bytes === null) return null;
  const text = bytes.toString('latin1');
  let parsed: ReturnType<typeof parseUciSpans>;
  try {
    parsed = parseUciSpans(text);
  } catch (e) {
    if (e instanceof UciSyntaxError) throw new MailError('conflict', `${FIREWALL_FILE} line ${e.line}: ${e.message} (uci refuses it too); nothing was changed`);
    throw e;
  }
  const ours = parsed.pkg.sections.filter(isOurs);
  const theirs = cutSpans(text, ours.flatMap((s) => parsed.spans.get(s)!));
  // Our sections must come out whole and alone: a section that shares a line with ours (`;`)
  // would be cut with it. Then the owner's sections must read exactly as before.
  const expected = serializeUci({ sections: parsed.pkg.sections.filter((s) => !isOurs(s)) });
  if (serializeUci(parseUci(theirs)) !== expected) {
    throw new MailError('conflict', `${FIREWALL_FILE}: a mailserver section shares a line with another section; put them on lines of their own (nothing was changed)`);
  }
  return { text, ours, theirs };
}

/** Remove each span and the blank line that separates it from what comes before. */
function cutSpans(text: string, spans: UciSpan[]): string {
  let out = text;
  for (const { start, end } of [...spans].sort((a, b) => b.start - a.start)) {
    const from = start >= 2 && text[start - 1] === '\n' && text[start - 2] === '\n' ? start - 1 : start;
    out = out.slice(0, from) + out.slice(end);
  }
  return out;
}

/** Sections as `uci` writes them, each after a blank line, appended to the owner's text. */
function appendSections(theirs: string, sections: UciSection[]): string {
  const base = theirs === '' || theirs.endsWith('\n') ? theirs : `${theirs}\n`;
  return base + serializeUci({ sections }).slice(0, -1);
}

function requireFirewall(): FirewallFile {
  const file = readFirewall();
  if (!file) throw new MailError('unsupported', `${FIREWALL_FILE} does not exist: these are sections for OpenWrt's firewall (fw4)`);
  return file;
}

function writeFirewall(text: string): void {
  const path = hostPath(FIREWALL_FILE);
  writeAtomic(path, Buffer.from(text, 'latin1'), { mode: (statOrNull(path)?.mode ?? 0o644) & 0o7777 });
}

export interface Reload {
  ran: boolean;
  error?: string;
}

/** fw4 reads the file only when reloaded; without its init script (not OpenWrt) there is nothing to tell. */
function reloadFirewall(): Reload {
  const init = hostPath(FIREWALL_INIT);
  if (!exists(init)) return { ran: false };
  const r = run([init, 'reload']);
  if (r.code !== 0) return { ran: true, error: `${FIREWALL_INIT} reload failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}` };
  return { ran: true };
}

export interface OpenPort {
  name: string;
  kind: 'rule' | 'redirect';
  port: number;
  /** redirect: the container address WAN traffic is forwarded to. */
  destIp: string | null;
  /** fw4 skips a section with `option enabled '0'` (set in LuCI, say). */
  enabled: boolean;
}

function openPort(s: UciSection): OpenPort {
  const option = (name: string) => {
    const v = s.options.get(name);
    return Array.isArray(v) ? v.join(' ') : v;
  };
  return {
    name: option('name') ?? s.name!,
    kind: s.type as OpenPort['kind'],
    port: Number(option(s.type === 'rule' ? 'dest_port' : 'src_dport')),
    destIp: option('dest_ip') ?? null,
    enabled: option('enabled') !== '0',
  };
}

const sameSections = (a: UciSection[], b: UciSection[]) => serializeUci({ sections: a }) === serializeUci({ sections: b });

/** Open the enabled mail ports from the WAN zone; our earlier sections are replaced, nothing else is touched. */
export function setupFirewall(settings: Settings) {
  const wanted = wantedOpenings(settings).map(openingSection);
  const file = requireFirewall();
  const changed = !sameSections(file.ours, wanted);
  if (changed) writeFirewall(appendSections(file.theirs, wanted));
  return { changed, open: wanted.map(openPort), reload: changed ? reloadFirewall() : { ran: false } };
}

/** Remove exactly our sections. */
export function clearFirewall() {
  const file = readFirewall();
  if (!file || file.ours.length === 0) return { changed: false, removed: [] as string[], reload: { ran: false } as Reload };
  writeFirewall(file.theirs);
  return { changed: true, removed: file.ours.map((s) => openPort(s).name), reload: reloadFirewall() };
}

/** What our sections open now, and whether they match the settings (a port changed: run setup). */
export function firewallStatus(settings: Settings) {
  let file: FirewallFile | null;
  try {
    file = readFirewall();
  } catch (e) {
    // A file uci refuses is the owner's to fix; the Overview still shows everything else.
    if (e instanceof MailError) return { present: true, open: [] as OpenPort[], upToDate: false, problem: e.message };
    throw e;
  }
  if (!file) return { present: false, open: [] as OpenPort[], upToDate: false, problem: `${FIREWALL_FILE} does not exist (not OpenWrt's fw4)` };
  let wanted: UciSection[];
  try {
    wanted = wantedOpenings(settings).map(openingSection);
  } catch (e) {
    return { present: true, open: file.ours.map(openPort), upToDate: false, problem: e instanceof Error ? e.message : String(e) };
  }
  return { present: true, open: file.ours.map(openPort), upToDate: sameSections(file.ours, wanted) };
}
