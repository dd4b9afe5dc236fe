// One mailbox's Apple configuration profile, for the Mailboxes screen's download.
import { nameUuid } from '../sys/crypto.ts';
import { viewAccounts } from '../store/files.ts';
import { renderMobileconfig } from '../render/autoconfig.ts';
import type { Context } from '../core/context.ts';

export interface MailboxProfile {
  filename: string;
  contentType: string;
  content: string;
}

export function mailboxProfile(ctx: Context, email: string): MailboxProfile | null {
  const address = email.toLowerCase();
  if (!viewAccounts(ctx.layout).mailboxes.has(address)) return null;
  // Stable per server and mailbox: installing it again replaces the profile instead of adding one.
  const uuid = (what: string) => nameUuid(`${ctx.settings.main.domain} ${what}`);
  return { filename: `${address}.mobileconfig`, contentType: 'application/x-apple-aspen-config', content: renderMobileconfig(ctx.settings, address, uuid) };
}
