// Mailboxes and aliases: the methods a delegated helper may use (ACL group …-accounts).
import { arg } from './args.ts';
import { method } from './method.ts';
import { MailError } from '../core/errors.ts';
import { page, pageArgs, pageOf } from './paging.ts';
import { sha512Crypt } from '../sys/sha512crypt.ts';
import { hashSoon, sha512CryptAll } from '../sys/hash-threads.ts';
import { formatSize, roughSize, size as parseSize } from '../config/validate.ts';
import { viewAccounts, viewSortedMailboxes, loadAccountsForChange, saveMailboxes, saveAliases } from '../store/files.ts';
import { addMailbox, getMailbox, removeMailbox, addAlias, removeAlias } from '../store/changes.ts';
import { createMaildir, purgeMaildir, maildirUsage, checkMaildirReachable } from '../store/mailbox-files.ts';
import { apply } from '../runtime/service.ts';
import { addMailboxQuickly, keepingStamp, stampedUsers } from '../runtime/mailbox-add.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { threadScript } from '../core/lazy-bundle.ts';

/** A SHA512-CRYPT hash as the users file keeps it (Dovecot's scheme prefix). */
const stored = (crypt: string) => `{SHA512-CRYPT}${crypt}`;
const storedHash = (password: string) => stored(sha512Crypt(password));
/** The password argument as the store keeps it (see Method.prepare: hashed before the lock). */
const hashPassword = <A extends { password: string }>(a: A): A => ({ ...a, password: storedHash(a.password) });
const quotaText = (q: number | null) => (q === null ? 'default' : q === 0 ? 'unlimited' : formatSize(q));

/**
 * Usage walks each mailbox's maildir: done for a page a person looks at (the LuCI page asks for
 * 25), skipped (null) for bigger pages so `user list` over thousands of mailboxes stays fast.
 */
const USAGE_MAX_MAILBOXES = 200;

/** "default" goes back to features.quota_default; a size sets the mailbox's own (0 = unlimited). */
const quotaArg = (doc: string) => arg.size(doc).checked((field, value) => (value === 'default' ? null : parseSize(field, value)));

export const accountMethods = [
  method({
    name: 'user_list',
    access: 'read',
    accounts: true,
    doc: 'List mailboxes (paged)',
    cli: ['user', 'list'],
    args: pageArgs,
    handler: (a, ctx) => {
      const sorted = viewSortedMailboxes(ctx.layout, stampedUsers(ctx.layout));
      const p = a.search ? page(sorted.slice(0, sorted.total), (m) => m.email, a) : pageOf(sorted, a);
      const withUsage = p.items.length <= USAGE_MAX_MAILBOXES;
      // usage: bytes of stored messages (null: not counted for this page).
      return { ...p, items: p.items.map(({ email, quota }) => ({ email, quota, usage: withUsage ? maildirUsage(ctx.layout, email) : null })) };
    },
    text: (r) => r.items.map((m) => `${m.email}\t${m.usage === null ? '-' : roughSize(m.usage)}\t${quotaText(m.quota)}`).join('\n') + more(r),
  }),
  method({
    name: 'user_add',
    access: 'write',
    accounts: true,
    doc: 'Create a mailbox',
    cli: ['user', 'add'],
    args: { email: arg.email('address of the new mailbox').word(), password: arg.password('its password'), quota: quotaArg('quota, e.g. 2G (0 = unlimited)').optional() },
    // On the warm worker's thread the hash is made while the write waits in line and reads its files.
    prepare: ({ password, ...rest }) => ({ ...rest, hashed: hashSoon(password) }),
    handler: async ({ email, hashed, quota }, ctx) => {
      const hash = async () => stored(await hashed());
      if (!(await addMailboxQuickly(ctx, { email, quota: quota ?? null }, hash))) {
        const accounts = loadAccountsForChange(ctx.layout);
        addMailbox(ctx.settings, accounts, email, await hash(), quota ?? null);
        createMaildir(ctx.layout, email);
        saveMailboxes(ctx.layout, accounts.mailboxes);
        apply(ctx, accounts);
      }
      return { email, quota: quota ?? null };
    },
    text: (r) => `created ${r.email}`,
  }),
  method({
    name: 'user_import',
    access: 'write',
    accounts: true,
    job: true,
    doc: 'Create many mailboxes from CSV (address,password-or-SHA512-CRYPT-hash,quota) or JSON lines; all or nothing',
    cli: ['user', 'import'],
    args: { data: arg.mailboxList('the list, CSV or JSON lines (mailctl: on stdin with --password-stdin)') },
    handler: async ({ data }, ctx) => {
      // Hashing is most of the work: done before the lock (on every core), so other writers wait only for the save.
      const toHash = data.filter((row) => row.hash === undefined);
      ctx.progress(0, `hashing passwords (0/${toHash.length})`);
      const hashes = await sha512CryptAll(
        toHash.map((row) => row.password!),
        threadScript('hash-worker.js'),
        (done) => ctx.progress((90 * done) / toHash.length, `hashing passwords (${done}/${toHash.length})`),
      );
      let next = 0;
      const hashed = data.map((row) => ({ ...row, hash: row.hash ?? stored(hashes[next++]!) }));
      ctx.progress(90, 'saving');
      return withWriteLock(() => {
        const accounts = loadAccountsForChange(ctx.layout);
        // Every rule is checked for every row before the one write: all or nothing.
        for (const row of hashed) {
          try {
            addMailbox(ctx.settings, accounts, row.email, row.hash, row.quota);
          } catch (e) {
            throw e instanceof MailError ? new MailError(e.code, e.message, 'data') : e;
          }
        }
        saveMailboxes(ctx.layout, accounts.mailboxes);
        for (const row of hashed) createMaildir(ctx.layout, row.email);
        ctx.progress(95, 'applying');
        apply(ctx, accounts);
        return { imported: hashed.length };
      });
    },
    text: (r) => `imported ${r.imported} mailboxes`,
  }),
  method({
    name: 'user_del',
    access: 'write',
    accounts: true,
    doc: 'Delete a mailbox: its login and address go at once; mail is kept unless purge',
    cli: ['user', 'del'],
    args: { email: arg.email('mailbox to delete').word(), purge: arg.flag('also delete its stored mail').optional() },
    handler: ({ email, purge }, ctx) => {
      const accounts = loadAccountsForChange(ctx.layout);
      if (purge) checkMaildirReachable(ctx.layout, email);
      const aliasesChanged = removeMailbox(accounts, email);
      // Aliases first: a kill between the two writes leaves a mailbox nobody points to, never a dangling target.
      if (aliasesChanged.length) saveAliases(ctx.layout, accounts.aliases);
      saveMailboxes(ctx.layout, accounts.mailboxes);
      apply(ctx, accounts);
      if (purge) purgeMaildir(ctx.layout, email);
      return { email, purged: purge === true, aliasesChanged };
    },
    text: (r) => `deleted ${r.email}${r.purged ? ' and its mail' : ' (mail kept)'}${r.aliasesChanged.length ? `; removed from ${r.aliasesChanged.join(', ')}` : ''}`,
  }),
  method({
    name: 'user_passwd',
    access: 'write',
    accounts: true,
    doc: "Change a mailbox's password",
    cli: ['user', 'passwd'],
    args: { email: arg.email('mailbox').word(), password: arg.password('the new password') },
    prepare: hashPassword,
    handler: ({ email, password: hash }, ctx) => {
      const accounts = loadAccountsForChange(ctx.layout);
      getMailbox(accounts, email).hash = hash;
      keepingStamp(ctx.layout, () => saveMailboxes(ctx.layout, accounts.mailboxes));
      return { email };
    },
    text: (r) => `password changed for ${r.email}`,
  }),
  method({
    name: 'user_quota',
    access: 'write',
    accounts: true,
    doc: "Set a mailbox's quota (e.g. 2G; 0 = unlimited; default = features.quota_default)",
    cli: ['user', 'quota'],
    args: { email: arg.email('mailbox').word(), quota: quotaArg('new quota').word() },
    handler: ({ email, quota }, ctx) => {
      if (!ctx.settings.features.quota) throw new MailError('conflict', 'quotas are off: set mailserver.features.quota=1 first', 'quota');
      const accounts = loadAccountsForChange(ctx.layout);
      getMailbox(accounts, email).quota = quota;
      keepingStamp(ctx.layout, () => saveMailboxes(ctx.layout, accounts.mailboxes));
      return { email, quota };
    },
    text: (r) => `quota of ${r.email}: ${quotaText(r.quota)}`,
  }),
  method({
    name: 'alias_list',
    access: 'read',
    accounts: true,
    doc: 'List aliases and catch-alls (paged)',
    cli: ['alias', 'list'],
    args: pageArgs,
    handler: (a, ctx) => page([...viewAccounts(ctx.layout).aliases].sort(([x], [y]) => (x < y ? -1 : 1)).map(([alias, targets]) => ({ alias, targets })), (x) => `${x.alias} ${x.targets.join(',')}`, a),
    text: (r) => r.items.map((x) => `${x.alias}\t${x.targets.join(', ')}`).join('\n') + more(r),
  }),
  method({
    name: 'alias_add',
    access: 'write',
    accounts: true,
    doc: 'Add an alias (or catch-all @domain) to one address or a comma list; merges into an existing alias',
    cli: ['alias', 'add'],
    args: { alias: arg.aliasSource('alias address, or @domain for a catch-all').word(), target: arg.addressList('target address(es), comma-separated').word() },
    handler: ({ alias, target }, ctx) => {
      const accounts = loadAccountsForChange(ctx.layout);
      const targets = addAlias(ctx.settings, accounts, alias, target);
      saveAliases(ctx.layout, accounts.aliases);
      apply(ctx, accounts);
      return { alias, targets };
    },
    text: (r) => `${r.alias} → ${r.targets.join(', ')}`,
  }),
  method({
    name: 'alias_del',
    access: 'write',
    accounts: true,
    doc: 'Remove an alias, or one target of it',
    cli: ['alias', 'del'],
    args: { alias: arg.aliasSource('alias address or @domain').word(), target: arg.anyEmail('only remove this target').word().optional() },
    handler: ({ alias, target }, ctx) => {
      const accounts = loadAccountsForChange(ctx.layout);
      const targets = removeAlias(accounts, alias, target);
      saveAliases(ctx.layout, accounts.aliases);
      apply(ctx, accounts);
      return { alias, targets };
    },
    text: (r) => (r.targets.length ? `${r.alias} → ${r.targets.join(', ')}` : `removed ${r.alias}`),
  }),
];

function more(r: { total: number; offset: number; items: unknown[] }): string {
  const rest = r.total - r.offset - r.items.length;
  return rest > 0 ? `\n… ${rest} more (use --offset ${r.offset + r.items.length})` : '';
}
