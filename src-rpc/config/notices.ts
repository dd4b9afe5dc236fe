// Options whose feature does not exist yet in this implementation: rather than let a switch do
// nothing in silence, status (and so the Overview) says which setting has no effect and why.
import type { Settings } from './settings.ts';

export function unimplementedOptionNotices(s: Settings): string[] {
  const out: string[] = [];
  if (s.webmail.enabled && s.webmail.container && s.main.runtime === 'host') {
    out.push(`webmail.container '${s.webmail.container}': containers are not managed on the host runtime; Roundcube is found through webmail.config_path`);
  }
  return out;
}
