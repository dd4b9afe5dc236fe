// Asks the running Dovecot about mailboxes: the auth service finds each one in its passdb (so a
// login with its password works) and the storage shows how many messages it holds.
import { machineFor } from './machine.ts';
import type { Context } from '../core/context.ts';

export function checkMailboxes(ctx: Context, emails: string[]) {
  const machine = machineFor(ctx.settings);
  const conf = machine.path(ctx.layout.dovecotConfigFile);
  const run = (argv: string[]) => machine.run(argv);
  return emails.map((email) => {
    const auth = run(['doveadm', '-c', conf, 'auth', 'lookup', email]);
    const status = run(['doveadm', '-c', conf, 'mailbox', 'status', '-u', email, '-t', 'messages', '*']);
    const m = /messages=(\d+)/.exec(status.stdout);
    const error = auth.code !== 0 ? `auth lookup: ${(auth.stderr || auth.stdout).trim()}` : !m ? `mailbox status: ${(status.stderr || status.stdout).trim()}` : undefined;
    return { email, authenticates: auth.code === 0 && /passdb:/.test(auth.stdout), messages: m ? Number(m[1]) : null, ...(error ? { error } : {}) };
  });
}
