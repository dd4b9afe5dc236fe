// Brute-force bans (features.fail2ban): see them, ban an address by hand, lift a ban.
import { arg } from './args.ts';
import { method } from './method.ts';
import { page, pageArgs } from './paging.ts';
import { MailError } from '../core/errors.ts';
import { ipAddress } from '../config/validate.ts';
import { addBan, deleteBan, installBanRules, listBans, type Ban } from '../ban/nft.ts';
import { neverBanned, neverBannedMatcher } from '../ban/never.ts';
import type { Context } from '../core/context.ts';

const addressArg = (doc: string) => arg.text(doc, 45).checked(ipAddress);

function assertBansOn(ctx: Context): void {
  if (!ctx.settings.features.fail2ban) throw new MailError('conflict', 'bans are off: set mailserver.features.fail2ban=1 first');
}

const banText = (b: Ban) => `${b.address}\t${b.expiresIn} s left`;

export const banMethods = [
  method({
    name: 'ban_list',
    access: 'read',
    doc: 'Addresses banned for failed logins, with the seconds left (paged)',
    cli: ['ban', 'list'],
    args: pageArgs,
    handler: (a) => page(listBans(), (b) => b.address, a),
    text: (r) => (r.items.length ? r.items.map(banText).join('\n') : 'no address is banned'),
  }),
  method({
    name: 'ban_add',
    access: 'write',
    doc: 'Ban an address from the mail ports (default ban.ban_time seconds)',
    cli: ['ban', 'add'],
    args: { address: addressArg('IPv4 or IPv6 address').word(), time: arg.integer('seconds (default ban.ban_time)', 1, 30 * 86400).optional() },
    handler: ({ address, time }, ctx) => {
      assertBansOn(ctx);
      if (neverBannedMatcher(neverBanned(ctx.settings))(address)) {
        throw new MailError('conflict', `${address} is never banned: it is the router's own or in ban.allow`, 'address');
      }
      installBanRules(ctx.settings);
      addBan(address, time ?? ctx.settings.ban.banTime);
      return { address, time: time ?? ctx.settings.ban.banTime };
    },
    text: (r) => `banned ${r.address} for ${r.time} s`,
  }),
  method({
    name: 'ban_del',
    access: 'write',
    doc: 'Lift the ban of an address',
    cli: ['ban', 'del'],
    args: { address: addressArg('banned address').word() },
    handler: ({ address }) => {
      if (!deleteBan(address)) throw new MailError('not_found', `${address} is not banned`, 'address');
      return { address };
    },
    text: (r) => `${r.address} is no longer banned`,
  }),
];
