// The one way into the method table, shared by the CLI and the rpcd plugin.
import { parseArgs } from './args.ts';
import { MailError } from './errors.ts';
import { loadContext } from './context.ts';
import { withLock } from '../sys/lock.ts';
import { removeStaleTemps } from '../sys/fs.ts';
import { methodByName } from './table.ts';

/** LuCI gives up after 20 s; waiting longer for the lock would only hide the failure. */
const LOCK_WAIT_MS = 15_000;

export async function callMethod(name: string, rawArgs: unknown): Promise<object> {
  const m = methodByName(name);
  if (!m) throw new MailError('unknown_method', `unknown method: ${name.slice(0, 64)}`);
  const args = parseArgs(m.args, rawArgs);
  if (m.access === 'read') return m.handler(args, loadContext());
  return withLock('write', LOCK_WAIT_MS, () => {
    const ctx = loadContext();
    removeStaleTemps(ctx.layout.configDir);
    return m.handler(args, ctx);
  });
}
