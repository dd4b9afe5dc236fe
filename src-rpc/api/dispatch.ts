// The one way into the method table, shared by the CLI and the rpcd plugin.
import { parseArgs } from './args.ts';
import { MailError } from '../core/errors.ts';
import { loadContext as loadContextWith, type Daemons } from '../core/context.ts';
import { apply, reload, start, stop, declareInstances, instancesStopped } from '../runtime/service.ts';
import { checkMailboxes } from '../runtime/mailbox-check.ts';
import { procdSupervises } from '../runtime/procd.ts';
import { endOrphanedRspamdWorkers } from '../runtime/signing.ts';
import { withWriteLock, settleInterruptedWrite } from '../core/write-lock.ts';
import { join } from 'node:path';
import { removeStaleTemps } from '../sys/fs.ts';
import { answeredRead } from '../sys/code-cache.ts';
import { methodByName } from './table.ts';
import { startDetached, runForeground, runRecorded, type JobBody, type Progress } from '../jobs/run.ts';
import { readJob } from '../jobs/store.ts';
import type { Method } from './method.ts';

const daemons: Daemons = { apply: (ctx) => apply(ctx), reload, start, stop, checkMailboxes };
const loadContext = (progress?: Progress) => loadContextWith(daemons, progress);

export type Door = { kind: 'rpcd'; runner: string[] } | { kind: 'cli'; onProgress: Progress };

function find(name: string): Method {
  const m = methodByName(name);
  if (!m) throw new MailError('unknown_method', `unknown method: ${name.slice(0, 64)}`);
  return m;
}

const jobBody = (m: Method): JobBody => (args, progress) => Promise.resolve(m.handler(args as never, loadContext(progress)));

/** When this process started (epoch ms): a cold call's arrival. (performance.timeOrigin would load perf_hooks.) */
export const processStart = () => Date.now() - process.uptime() * 1000;

/** arrivedAt (epoch ms): when the call came in; a writer waits in line at most 15 s from it. */
export async function callMethod(name: string, rawArgs: unknown, door: Door, arrivedAt = processStart()): Promise<object> {
  const m = find(name);
  const parsed = parseArgs(m.args, rawArgs);
  const args = m.prepare ? m.prepare(parsed) : parsed;
  if (m.job) {
    if (door.kind === 'rpcd') {
      const job = startDetached(m.name, args, door.runner);
      return { job: job.id, kind: job.kind, state: job.state };
    }
    const job = await runForeground(m.name, args, jobBody(m), door.onProgress);
    if (job.error) throw new MailError(job.error.code as never, job.error.error, job.error.field);
    return job.result ?? {};
  }
  if (m.access === 'read') {
    await settleInterruptedWrite();
    const result = await m.handler(args, loadContext());
    answeredRead();
    return result;
  }
  if (m.underProcd && procdSupervises()) {
    return m.underProcd(args, loadContext(), (fn) => withWriteLock(() => fn(loadContext()), arrivedAt));
  }
  return withWriteLock(() => {
    const ctx = loadContext();
    // Temp files of a writer killed mid-way (rpcd's timeout): we hold the lock, none is in use.
    const l = ctx.layout;
    for (const dir of [l.configDir, l.postfixConfigDir, join(l.dovecotConfigFile, '..'), l.secretsDir, l.sslDir]) removeStaleTemps(dir);
    return m.handler(args, ctx);
  }, arrivedAt);
}

/** The detached runner started by the rpcd door. */
export async function runJob(id: string): Promise<void> {
  const job = readJob(id);
  if (!job) throw new MailError('not_found', `no job ${id}`);
  await runRecorded(id, jobBody(find(job.kind)));
}

/**
 * The init script's own commands (not in the method table: no rpcd door, no help entry).
 * `procd-instances` prints the instances procd should run (on the host runtime it renders first,
 * under the write lock); `procd-stop` records that the server should no longer run (tick then
 * starts nothing) and stops the container cleanly;
 * `procd-prestart rspamd` (the rspamd instance's first step) ends a killed main's workers.
 */
export async function procdCommand(word: 'procd-instances' | 'procd-stop' | 'procd-prestart-rspamd'): Promise<string> {
  if (word === 'procd-stop') return (instancesStopped(loadContext()), '');
  if (word === 'procd-prestart-rspamd') return (endOrphanedRspamdWorkers(loadContext().layout), '');
  return declareInstances(loadContext(), (fn) => withWriteLock(() => fn(loadContext())));
}
