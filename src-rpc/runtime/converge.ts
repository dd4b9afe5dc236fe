// Converge, don't patch: render every generated file from (settings, accounts, secrets), write
// only the ones whose bytes changed, rebuild changed maps, reload only the daemons affected.
import { join } from 'node:path';
import { renderPostfixMain } from '../render/postfix-main.ts';
import { renderPostfixMaster } from '../render/postfix-master.ts';
import { renderDovecot } from '../render/dovecot.ts';
import { renderVdomains, renderVmailbox, renderVirtual, renderSenders, renderRelayPasswd } from '../render/maps.ts';
import { writeAtomic, readText, exists, ensureDir, rename } from '../sys/fs.ts';
import { systemGroupId } from '../sys/accounts.ts';
import { run } from '../sys/spawn.ts';
import { MailError } from '../api/errors.ts';
import { readRelayCredentials } from './relay.ts';
import type { Accounts } from '../store/accounts.ts';
import type { Context } from '../api/context.ts';
import type { RuntimeView, MapType } from '../render/view.ts';

export type Service = 'postfix' | 'dovecot';

interface GeneratedFile {
  path: string;
  text: string;
  mode: number;
  gid?: number;
  /** The daemon that must reload when this file changes (maps are re-read by Postfix itself). */
  reloads?: Service;
  /** A Postfix lookup table source: postmap it into the map type's database. */
  map?: boolean;
}

export interface ConvergeReport {
  changed: string[];
  reload: Service[];
}

export function renderAll(ctx: Context, view: RuntimeView, accounts: Accounts): GeneratedFile[] {
  const s = ctx.settings;
  const l = ctx.layout;
  const mailboxes = [...accounts.mailboxes.values()].map(({ email, quota }) => ({ email, quota }));
  const aliases = [...accounts.aliases].map(([alias, targets]) => ({ alias, targets }));
  const relay = s.main.relayhost ? readRelayCredentials(l) : null;
  const files: GeneratedFile[] = [
    { path: join(l.postfixConfigDir, 'main.cf'), text: renderPostfixMain(s, view, { relayCredentials: relay !== null }), mode: 0o644, reloads: 'postfix' },
    { path: join(l.postfixConfigDir, 'master.cf'), text: renderPostfixMaster(s, view), mode: 0o644, reloads: 'postfix' },
    { path: l.dovecotConfigFile, text: renderDovecot(s, view), mode: 0o640, gid: systemGroupId('dovecot') ?? 0, reloads: 'dovecot' },
    { path: join(l.configDir, 'vdomains'), text: renderVdomains(s), mode: 0o644, map: true },
    { path: join(l.configDir, 'vmailbox'), text: renderVmailbox(s, mailboxes), mode: 0o644, map: true },
    { path: join(l.configDir, 'virtual'), text: renderVirtual(s, mailboxes, aliases), mode: 0o644, map: true },
    { path: join(l.configDir, 'senders'), text: renderSenders(s, mailboxes, aliases), mode: 0o644, map: true },
  ];
  if (relay && s.main.relayhost) {
    files.push({ path: join(l.secretsDir, 'relay_passwd'), text: renderRelayPasswd(s.main.relayhost, relay.user, relay.password), mode: 0o600, map: true });
  }
  return files;
}

/** postfixConfigDir: postmap reads main.cf (for dynamic map types) from there, not /etc/postfix. */
export function writeGenerated(files: GeneratedFile[], mapType: MapType, postfixConfigDir: string): ConvergeReport {
  const changed: string[] = [];
  const reload = new Set<Service>();
  for (const f of files) {
    ensureDir(join(f.path, '..'), { mode: f.mode === 0o600 ? 0o700 : 0o755 });
    const own = { mode: f.mode, uid: 0, gid: f.gid ?? 0 };
    if (f.map) {
      if (readText(f.path) === f.text && exists(mapDatabase(f.path, mapType))) continue;
      buildMap(f.path, f.text, mapType, own.mode, postfixConfigDir);
    } else if (!writeAtomic(f.path, f.text, own)) {
      continue;
    }
    changed.push(f.path);
    if (f.reloads) reload.add(f.reloads);
  }
  return { changed, reload: [...reload] };
}

/**
 * postmap a temp copy and rename the database into place before the source, so a kill at
 * any point leaves either the old pair or a source that differs and is rebuilt next time.
 */
function buildMap(path: string, text: string, mapType: MapType, mode: number, postfixConfigDir: string): void {
  const temp = join(path, '..', `.tmp-map-${process.pid}-${path.split('/').pop()}`);
  writeAtomic(temp, text, { mode, uid: 0, gid: 0 });
  const r = run(['postmap', '-c', postfixConfigDir, `${mapType}:${temp}`]);
  if (r.code !== 0) throw new MailError('daemon_error', `postmap failed for ${path}: ${(r.stderr || r.stdout).trim()}`);
  rename(mapDatabase(temp, mapType), mapDatabase(path, mapType));
  rename(temp, path);
}

export function mapDatabase(source: string, mapType: MapType): string {
  return `${source}.${mapType === 'hash' || mapType === 'btree' ? 'db' : mapType}`;
}
