// Options whose feature does not exist yet in this implementation: rather than let a switch do
// nothing in silence, status (and so the Overview) says which setting has no effect and why.
import type { Settings } from './settings.ts';

export function unimplementedOptionNotices(s: Settings): string[] {
  const out: string[] = [];
  if (s.features.fail2ban) out.push('features.fail2ban=1: brute-force bans are not implemented yet, nothing is banned');
  if (s.webmail.enabled) out.push(`webmail.enabled=1: webmail (container ${s.webmail.container}, port ${s.webmail.port}) is not implemented yet`);
  if (s.mesh.enabled) out.push(`mesh.enabled=1: mesh backup and sync (every ${s.mesh.syncInterval} s) are not implemented yet`);
  return out;
}
