// Mail domains: main.domain plus the main.extra_domain list in UCI.
import { arg } from './args.ts';
import { method } from './method.ts';
import { page, pageArgs } from './paging.ts';
import { MailError } from '../core/errors.ts';
import { mailDomains } from '../config/settings.ts';
import { setOption } from '../config/uci.ts';
import { viewAccounts } from '../store/files.ts';
import { domainUsage } from '../store/changes.ts';
import { apply } from '../runtime/service.ts';

export const domainMethods = [
  method({
    name: 'domain_list',
    access: 'read',
    doc: 'List mail domains with their mailbox and alias counts (paged)',
    cli: ['domain', 'list'],
    args: pageArgs,
    handler: (a, ctx) => {
      const accounts = viewAccounts(ctx.layout);
      const domains = page(mailDomains(ctx.settings), (d) => d, a);
      return { ...domains, items: domains.items.map((domain) => ({ domain, primary: domain === ctx.settings.main.domain, ...domainUsage(accounts, domain) })) };
    },
    text: (r) => r.items.map((d) => `${d.domain}${d.primary ? ' (primary)' : ''}\t${d.mailboxes} mailboxes, ${d.aliases} aliases`).join('\n'),
  }),
  method({
    name: 'domain_add',
    access: 'write',
    doc: 'Add a mail domain (its MX must point at this mail host)',
    cli: ['domain', 'add'],
    args: { domain: arg.domain('domain name').word() },
    handler: ({ domain }, ctx) => {
      if (mailDomains(ctx.settings).includes(domain)) throw new MailError('exists', `${domain} is already a mail domain`, 'domain');
      setOption(ctx.uci, 'main', 'extra_domain', [...ctx.settings.main.extraDomains, domain]);
      apply(ctx.commitUci(ctx.uci));
      return { domain };
    },
    text: (r) => `added ${r.domain}`,
  }),
  method({
    name: 'domain_del',
    access: 'write',
    doc: 'Remove a mail domain that has no mailboxes or aliases left',
    cli: ['domain', 'del'],
    args: { domain: arg.domain('domain name').word() },
    handler: ({ domain }, ctx) => {
      if (domain === ctx.settings.main.domain) throw new MailError('conflict', `${domain} is the primary domain (mailserver.main.domain)`, 'domain');
      if (!ctx.settings.main.extraDomains.includes(domain)) throw new MailError('not_found', `${domain} is not a mail domain here`, 'domain');
      const usage = domainUsage(viewAccounts(ctx.layout), domain);
      if (usage.mailboxes || usage.aliases) {
        throw new MailError('conflict', `${domain} still has ${usage.mailboxes} mailboxes and ${usage.aliases} aliases; remove them first`, 'domain');
      }
      const rest = ctx.settings.main.extraDomains.filter((d) => d !== domain);
      setOption(ctx.uci, 'main', 'extra_domain', rest.length ? rest : null);
      apply(ctx.commitUci(ctx.uci));
      return { domain };
    },
    text: (r) => `removed ${r.domain}`,
  }),
];
