// What this session may do, asked from rpcd once when the page mounts: session.access for every
// method of the table (rpcd matches the ACL's globs itself). LuCI's L.hasViewPermission() only
// tells whether the menu entry's groups are writable, not which methods they hold: a login that
// holds only luci-app-mailserver-accounts must see Mailboxes and Aliases with their controls and
// nothing whose calls rpcd would refuse. The backend's ACL still decides every call.
import { computed, signal } from '@preact/signals';
import { METHODS, type MethodName } from './gen/methods.ts';
import { mayCall } from './client.ts';
import type { TabId } from './state.ts';

/** The reads a screen cannot open without; its controls ask may() for their own method. */
export const SCREEN_READS: Record<TabId, readonly MethodName[]> = {
  overview: ['overview'],
  mailboxes: ['user_list'],
  aliases: ['alias_list'],
  domains: ['domain_list', 'relay_show'],
  dns: ['dns_records', 'dns_check', 'dkim_show'],
  tls: ['overview', 'ssl_status'],
  mesh: ['mesh_peers'],
  webmail: ['webmail_status'],
  logs: ['logs'],
};

const granted = signal<ReadonlySet<MethodName>>(new Set());

/** May this session call the method? (false until the rights are known) */
export const may = (m: MethodName): boolean => granted.value.has(m);

export const screenAllowed = (t: TabId): boolean => SCREEN_READS[t].every(may);

/** Any write method granted: the page is not read-only. */
export const canWrite = computed(() => [...granted.value].some((m) => METHODS[m].access === 'write'));

export async function loadRights(): Promise<void> {
  const names = Object.keys(METHODS) as MethodName[];
  const answers = await Promise.all(names.map(mayCall));
  granted.value = new Set(names.filter((_, i) => answers[i]));
}
