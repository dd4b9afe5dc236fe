// Options whose feature does not exist yet in this implementation: rather than let a switch do
// nothing in silence, status (and so the Overview) says which setting has no effect and why.
import type { Settings } from './settings.ts';

export function unimplementedOptionNotices(s: Settings): string[] {
  const out: string[] = [];
  // The lxc runtime makes the mail container only; Roundcube's is its owner's.
  if (s.webmail.enabled && s.webmail.container) {
    out.push(`webmail.container '${s.webmail.container}': the webmail container is not managed by mailctl; Roundcube is found through webmail.config_path`);
  }
  return out;
}
