// Bans live in the kernel: elements of our nftables sets with a timeout, so a ban expires by
// itself, survives our restarts and costs nothing while it lasts.
import { isIP } from '../sys/ip.ts';
import { exists, setMark } from '../sys/fs.ts';
import { ensureRunDir } from '../sys/run-dir.ts';
import { hostPath } from '../sys/paths.ts';
import { run } from '../sys/spawn.ts';
import { MailError } from '../core/errors.ts';
import { BAN_TABLE, BANNED_SETS, renderBanRuleset } from '../render/nftables.ts';
import type { Settings } from '../config/settings.ts';
import { neverBanned } from './never.ts';

export interface Ban {
  address: string;
  /** Seconds until the kernel lifts it. */
  expiresIn: number;
  /** The ban's whole length in seconds. */
  duration: number;
}

function nft(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = run(['nft', ...args], input === undefined ? {} : { input });
  if (r.code === 127) throw new MailError('unsupported', 'nft (nftables) is not installed: bans need it (opkg install nftables-json, or set features.fail2ban=0)');
  return r;
}

function nftChecked(args: string[], what: string, input?: string): string {
  const r = nft(args, input);
  if (r.code !== 0) throw new MailError('daemon_error', `${what} failed: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}`);
  return r.stdout;
}

const setOf = (address: string) => BANNED_SETS[isIP(address) === 6 ? 6 : 4];

function mailPorts(s: Settings): number[] {
  return Object.values(s.ports).filter((p) => p !== 0);
}

/** The ruleset the settings want: a veth container's clients pass the router's forward hook. */
export function banRuleset(s: Settings): string {
  return renderBanRuleset(mailPorts(s), neverBanned(s), s.main.runtime === 'lxc' && s.lxc.network === 'veth');
}

/**
 * Bans get into our table only after we loaded it (fw4's include makes it too, at every firewall
 * load, but empty). This mark says we did since boot: on tmpfs, it goes at reboot with the bans.
 * Without it the bans are none and no nft process runs, which is most of a cold `status` of a
 * server not started since boot.
 */
const tableMark = () => hostPath('/var/run/mailserver/ban-table');

/** Create or refresh the table (bans kept), with the settings' ports and never-banned list. */
export function installBanRules(s: Settings): void {
  ensureRunDir();
  setMark(tableMark(), true);
  nftChecked(['-f', '-'], 'loading the ban rules (nft -f)', banRuleset(s));
}

/** features.fail2ban=0: our table goes, bans with it. */
export function removeBanRules(): void {
  if (nft(['list', 'table', 'inet', BAN_TABLE]).code === 0) nftChecked(['delete', 'table', 'inet', BAN_TABLE], 'removing the ban rules');
  setMark(tableMark(), false);
}

export function banRulesInstalled(): boolean {
  return nft(['list', 'table', 'inet', BAN_TABLE]).code === 0;
}

/** Ban (or ban again, with a fresh timeout). */
export function addBan(address: string, seconds: number): void {
  const set = setOf(address);
  nft(['delete', 'element', 'inet', BAN_TABLE, set, `{ ${address} }`]);
  nftChecked(['add', 'element', 'inet', BAN_TABLE, set, `{ ${address} timeout ${seconds}s }`], `banning ${address}`);
}

/** Lift a ban; false when the address was not banned. */
export function deleteBan(address: string): boolean {
  return nft(['delete', 'element', 'inet', BAN_TABLE, setOf(address), `{ ${address} }`]).code === 0;
}

interface NftElem {
  elem?: { val?: unknown; timeout?: number; expires?: number };
}

/** Every current ban, soonest to expire last; none when the table is not there. */
export function listBans(): Ban[] {
  const bans: Ban[] = [];
  if (!exists(tableMark())) return bans;
  // One nft process for both sets: `list table` carries every set with its elements.
  const r = nft(['-j', 'list', 'table', 'inet', BAN_TABLE]);
  if (r.code !== 0) return bans;
  const banned = new Set<string>(Object.values(BANNED_SETS));
  const doc = JSON.parse(r.stdout) as { nftables?: { set?: { name?: string; elem?: (NftElem | string)[] } }[] };
  for (const entry of doc.nftables ?? []) {
    if (!entry.set || !banned.has(entry.set.name ?? '')) continue;
    for (const e of entry.set.elem ?? []) {
      if (typeof e === 'string') bans.push({ address: e, expiresIn: 0, duration: 0 });
      else if (typeof e.elem?.val === 'string') bans.push({ address: e.elem.val, expiresIn: e.elem.expires ?? 0, duration: e.elem.timeout ?? 0 });
    }
  }
  return bans.sort((a, b) => b.expiresIn - a.expiresIn || (a.address < b.address ? -1 : 1));
}
