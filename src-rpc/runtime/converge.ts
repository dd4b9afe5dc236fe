// Converge, don't patch: render every generated file from (settings, accounts, secrets), write
// only the ones whose bytes changed, rebuild changed maps, reload only the daemons affected.
import { join } from 'node:path';
import { renderPostfixMain } from '../render/postfix-main.ts';
import { renderPostfixMaster, NULL_SENDER_TABLE, NULL_SENDER_REJECT } from '../render/postfix-master.ts';
import { renderDovecot } from '../render/dovecot.ts';
import { renderVdomains, renderVmailbox, renderVirtual, renderSenders, renderSenderOwners, renderRelayPasswd, renderSendersSelf } from '../render/maps.ts';
import { writeAtomic, readText, exists, ensureDir, backdate, removeTree, replaceFile, copyFile, noSpaceFor, NoSpaceError } from '../sys/fs.ts';
import { encodeCdb, mapSourceEntries } from '../sys/cdb.ts';
import { MailError } from '../core/errors.ts';
import { renderThunderbirdConfig, renderAutodiscoverCgi } from '../render/autoconfig.ts';
import { readRelayCredentials } from './relay.ts';
import { prepareSigning, milterAddress, senderOwnersFile } from './signing.ts';
import { prepareClamav, clamavMilter } from './clamav.ts';
import { SECRETS_DIR_MODE } from '../core/layout.ts';
import type { Accounts } from '../store/accounts.ts';
import type { Context } from '../core/context.ts';
import type { Layout } from '../core/layout.ts';
import type { RuntimeView, MapType } from '../render/view.ts';
import type { Machine } from './machine.ts';

export type { Service } from '../core/context.ts';
import type { Service } from '../core/context.ts';

interface GeneratedFile {
  path: string;
  text: string;
  mode: number;
  gid?: number;
  /** The daemon that must reload when this file changes (maps are re-read by Postfix itself). */
  reloads?: Service;
  /** Lines a reload does not apply: when one of them changes, that daemon restarts instead. */
  restartOn?: RegExp;
  /** A Postfix lookup table source: postmap it into the map type's database. */
  map?: boolean;
}

export interface ConvergeReport {
  changed: string[];
  reload: Service[];
  /** Running daemons to stop and start: their change takes more than a reload. */
  restart: Service[];
}

/** The vmailbox table's source (virtual_mailbox_maps); its database is mapDatabase of it. */
export const vmailboxSource = (l: Layout) => join(l.configDir, 'vmailbox');

export function renderAll(ctx: Context, view: RuntimeView, accounts: Accounts, machine: Machine): GeneratedFile[] {
  const s = ctx.settings;
  const l = ctx.layout;
  const mailboxes = [...accounts.mailboxes.values()].map(({ email, quota }) => ({ email, quota }));
  const aliases = [...accounts.aliases].map(([alias, targets]) => ({ alias, targets }));
  const relay = s.main.relayhost ? readRelayCredentials(l) : null;
  // DKIM keys and the milter's files (Rspamd or OpenDKIM); creates missing keys.
  const signing = prepareSigning(s, l, machine);
  // Virus scanning: clamav-milter is one more milter (Rspamd off), or Rspamd asks clamd.
  const milters = [milterAddress(s, l, machine.path), clamavMilter(s, l, machine)].filter((m) => m !== undefined).join(', ') || undefined;
  // A container sees none of the router's files: it gets a copy of the relay's CA beside main.cf.
  const relayCa = s.main.relayCaFile && machine.kind === 'container' ? readText(s.main.relayCaFile) : null;
  const relayCaCopy = join(l.postfixConfigDir, 'relay-ca.pem');
  const files: GeneratedFile[] = [
    // Postfix binds its listeners once: `postfix reload` keeps the old addresses (postconf(5)).
    { path: join(l.postfixConfigDir, 'main.cf'), text: renderPostfixMain(s, view, { relayCredentials: relay !== null, milter: milters, ...(relayCa !== null ? { relayCaFile: machine.path(relayCaCopy) } : {}) }), mode: 0o644, reloads: 'postfix', restartOn: /^inet_(interfaces|protocols)\s*=.*$/gm },
    ...(relayCa !== null ? [{ path: relayCaCopy, text: relayCa, mode: 0o644, reloads: 'postfix' as const }] : []),
    { path: join(l.postfixConfigDir, 'master.cf'), text: renderPostfixMaster(s, view), mode: 0o644, reloads: 'postfix' },
    { path: l.dovecotConfigFile, text: renderDovecot(s, view), mode: 0o640, gid: machine.groupId('dovecot') ?? 0, reloads: 'dovecot' },
    { path: join(l.configDir, 'vdomains'), text: renderVdomains(s), mode: 0o644, map: true },
    { path: vmailboxSource(l), text: renderVmailbox(s, mailboxes), mode: 0o644, map: true },
    { path: join(l.configDir, 'virtual'), text: renderVirtual(s, mailboxes, aliases), mode: 0o644, map: true },
    { path: join(l.configDir, 'senders'), text: renderSenders(s, mailboxes, aliases), mode: 0o644, map: true },
    { path: join(l.configDir, 'senders-self.regexp'), text: renderSendersSelf(s, mailboxes, aliases), mode: 0o644, reloads: 'postfix' },
    { path: join(l.configDir, NULL_SENDER_TABLE), text: NULL_SENDER_REJECT, mode: 0o644, reloads: 'postfix' },
    // Read by the signer on each message (Rspamd watches it; OpenDKIM opens it): no reload.
    { path: senderOwnersFile(l), text: renderSenderOwners(s, mailboxes, aliases), mode: 0o644 },
  ];
  for (const f of signing.files) files.push({ path: f.path, text: f.text, mode: 0o644, reloads: f.reloads });
  for (const f of prepareClamav(s, l, machine)) files.push({ path: f.path, text: f.text, mode: 0o644, reloads: f.reloads });
  if (relay && s.main.relayhost) {
    files.push({ path: join(l.postfixSecretsDir, 'relay_passwd'), text: renderRelayPasswd(s.main.relayhost, relay.user, relay.password), mode: 0o600, map: true });
  }
  if (s.autoconfig.enabled) files.push(...autoconfigFiles(ctx));
  return files;
}

/** Served by the router's web server (uhttpd): Thunderbird's two URLs and Outlook's CGI. */
export const AUTODISCOVER_CGI = 'cgi-bin/mailserver-autodiscover';

function autoconfigFiles(ctx: Context): GeneratedFile[] {
  const root = ctx.layout.webDocroot;
  const thunderbird = renderThunderbirdConfig(ctx.settings);
  return [
    { path: join(root, '.well-known/autoconfig/mail/config-v1.1.xml'), text: thunderbird, mode: 0o644 },
    { path: join(root, 'mail/config-v1.1.xml'), text: thunderbird, mode: 0o644 },
    { path: join(root, AUTODISCOVER_CGI), text: renderAutodiscoverCgi(ctx.settings), mode: 0o755 },
  ];
}

/**
 * postfixConfigDir: postmap reads main.cf (for dynamic map types) from there, not /etc/postfix.
 * postmap runs on the machine of the daemons; where it cannot run now (a stopped container), maps
 * are left as they are, source and database alike, for the next apply to build.
 */
export function writeGenerated(files: GeneratedFile[], mapType: MapType, postfixConfigDir: string, machine: Machine): ConvergeReport {
  const changed: string[] = [];
  const reload = new Set<Service>();
  const restart = new Set<Service>();
  const postmap = postmapOn(machine, postfixConfigDir);
  const canBuildMaps = mapType === 'cdb' || (files.some((f) => f.map) && machine.available());
  for (const f of files) {
    ensureDir(join(f.path, '..'), { mode: f.mode === 0o600 ? SECRETS_DIR_MODE : 0o755 });
    const own = { mode: f.mode, uid: 0, gid: f.gid ?? 0 };
    if (f.map && !canBuildMaps) continue;
    if (f.map) {
      const old = exists(mapDatabase(f.path, mapType)) ? readText(f.path) : null;
      if (old === f.text) continue;
      const diff = old === null || mapType === 'cdb' ? null : smallDiff(old, f.text);
      try {
        if (mapType === 'cdb') buildCdb(f.path, f.text, own.mode);
        else if (diff) updateMap(f.path, f.text, diff, mapType, own.mode, postmap);
        else buildMap(f.path, f.text, mapType, own.mode, postmap);
      } catch (e) {
        // Name the map, not the temp file it was being built in.
        throw e instanceof NoSpaceError ? noSpaceFor(f.path, { code: 'ENOSPC' }) : e;
      }
    } else {
      const restarts = f.reloads && f.restartOn && needsRestart(f.restartOn, readText(f.path), f.text);
      if (!writeAtomic(f.path, f.text, own)) continue;
      // Postfix tools wait (up to seconds) for a config file younger than a second to settle,
      // in case an editor is still writing it; ours is complete the moment it is renamed.
      if (f.reloads === 'postfix') backdate(f.path, 2);
      if (restarts) restart.add(f.reloads!);
    }
    changed.push(f.path);
    if (f.reloads) reload.add(f.reloads);
  }
  return { changed, reload: [...reload].filter((d) => !restart.has(d)), restart: [...restart] };
}

/** The lines `restartOn` picks differ between the file as it was (if it was) and as it will be. */
function needsRestart(restartOn: RegExp, old: string | null, next: string): boolean {
  const picked = (text: string) => (text.match(restartOn) ?? []).join('\n');
  return old !== null && picked(old) !== picked(next);
}

/**
 * Maps are built or changed on the side (a temp database), then the database and its source are
 * moved into place: Postfix never reads a half-written database, a full disk fails before
 * anything changed, and the write call's undo log covers both files.
 */
function buildMap(path: string, text: string, mapType: MapType, mode: number, postmap: Postmap): void {
  const temp = tempMap(path);
  try {
    writeAtomic(temp, text, { mode, uid: 0, gid: 0 });
    postmap([], `${mapType}:${temp}`, '', path);
    replaceFile(mapDatabase(temp, mapType), mapDatabase(path, mapType));
  } finally {
    removeTree(temp);
    removeTree(mapDatabase(temp, mapType));
  }
  writeAtomic(path, text, { mode, uid: 0, gid: 0 });
}

/** A cdb table is built here, not by postmap: the database, then its source (which says it is current). */
function buildCdb(path: string, text: string, mode: number): void {
  writeAtomic(mapDatabase(path, 'cdb'), encodeCdb(mapSourceEntries(text)), { mode, uid: 0, gid: 0 });
  writeAtomic(path, text, { mode, uid: 0, gid: 0 });
}

interface MapDiff {
  /** keys to delete (removed, or whose value changed) */
  remove: string[];
  /** `key value` lines to insert */
  add: string[];
}

/** A map change this small is applied to the live database instead of rebuilding it. */
const INCREMENTAL_MAX = 64;

/** Line diff of two sorted map sources; null when the change is too big to apply in place. */
export function smallDiff(old: string, next: string): MapDiff | null {
  // Only the region between the common first and last lines can differ: skip the rest without
  // splitting 10 000 lines.
  let head = 0;
  const shorter = Math.min(old.length, next.length);
  while (head < shorter && old.charCodeAt(head) === next.charCodeAt(head)) head++;
  head = old.lastIndexOf('\n', head - 1) + 1;
  let tail = 0;
  while (tail < shorter - head && old.charCodeAt(old.length - 1 - tail) === next.charCodeAt(next.length - 1 - tail)) tail++;
  // The common tail must start at a line start in both texts, so both regions are whole lines.
  const lineStart = (text: string, at: number) => at === 0 || text.charCodeAt(at - 1) === 10;
  while (tail > 0 && !(lineStart(old, old.length - tail) && lineStart(next, next.length - tail))) tail--;
  const cut = (text: string) => text.slice(head, text.length - tail).split('\n').filter((l) => l !== '');
  const a = cut(old);
  const b = cut(next);
  const removed: string[] = [];
  const added: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (removed.length + added.length > INCREMENTAL_MAX) return null;
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) removed.push(a[i++]!);
    else if (i >= a.length || b[j]! < a[i]!) added.push(b[j++]!);
    else (i++, j++);
  }
  const keyOf = (line: string) => line.slice(0, line.indexOf(' '));
  return { remove: removed.map(keyOf), add: added };
}

/** postmap -d / -i on a copy of the database, then the copy and the source move into place. */
function updateMap(path: string, text: string, diff: MapDiff, mapType: MapType, mode: number, postmap: Postmap): void {
  const temp = tempMap(path);
  const table = `${mapType}:${temp}`;
  try {
    copyFile(mapDatabase(path, mapType), mapDatabase(temp, mapType));
    if (diff.remove.length) postmap(['-d', '-'], table, diff.remove.join('\n') + '\n', path);
    if (diff.add.length) postmap(['-i'], table, diff.add.join('\n') + '\n', path);
    replaceFile(mapDatabase(temp, mapType), mapDatabase(path, mapType));
  } finally {
    removeTree(mapDatabase(temp, mapType));
  }
  writeAtomic(path, text, { mode, uid: 0, gid: 0 });
}

/** Where a map is built or changed before it moves into place (swept as a temp file if left). */
function tempMap(path: string): string {
  return join(path, '..', `.tmp-map-${process.pid}-${path.split('/').pop()}`);
}

/** postmap OPTIONS TYPE:FILE, FILE a host path (the machine's tools see it at machine.path). */
type Postmap = (options: string[], table: string, input: string, path: string) => void;

const postmapOn = (machine: Machine, postfixConfigDir: string): Postmap => (options, table, input, path) => {
  const colon = table.indexOf(':');
  const args = [...options, `${table.slice(0, colon)}:${machine.path(table.slice(colon + 1))}`];
  const r = machine.run(['postmap', '-c', machine.path(postfixConfigDir), ...args], { input });
  // postmap -d exits 1 when a key was not there: that is the state we want.
  if (r.code !== 0 && /No space left on device|Disk quota exceeded/.test(r.stderr)) throw noSpaceFor(path, { code: 'ENOSPC' });
  if (r.code !== 0 && !(args[0] === '-d' && r.code === 1 && r.stderr.trim() === '')) {
    throw new MailError('daemon_error', `postmap failed for ${path}: ${(r.stderr || r.stdout).trim()}`);
  }
}

export function mapDatabase(source: string, mapType: MapType): string {
  return `${source}.${mapType === 'hash' || mapType === 'btree' ? 'db' : mapType}`;
}
