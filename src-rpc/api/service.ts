// The service as a whole: start, stop, status, apply, logs, migrate.
import { arg } from './args.ts';
import { method } from './method.ts';
import { readText } from '../sys/fs.ts';
import { readBans } from '../runtime/ban-watcher.ts';
import { start, stop, status, applyFull, heal, logFile, install, uninstall, sendTestMessage, startThroughProcd, stopThroughProcd } from '../runtime/service.ts';
import { isWanted } from '../runtime/supervise.ts';
import { queueSize, diskSpace } from '../runtime/inspect.ts';
import { certificateSummary } from '../ssl/certificates.ts';
import { migrate } from '../store/migrate.ts';
import { viewAliases, viewSortedMailboxes } from '../store/files.ts';
import { stampedUsers } from '../runtime/mailbox-add.ts';
import { mailDomains, mailHost } from '../config/settings.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { listJobs, pruneJobs } from '../jobs/store.ts';
import { retireExpiredKeys } from '../dkim/rotate.ts';
import { sslRenew } from '../ssl/certificates.ts';
import { checkDns } from '../dns/check.ts';
import { loadDnsHealth, recordDnsHealth } from '../dns/health.ts';
import { firewallStatus } from '../firewall/fw4.ts';
import { readSyncState } from '../mesh/sync-state.ts';
import { finishInterruptedRestore } from '../mesh/swap.ts';
import type { Lock } from '../mesh/backup.ts';
import { scheduleMeshWork, type MeshSchedule } from './mesh-schedule.ts';
import type { Context } from '../core/context.ts';

type Status = Awaited<ReturnType<typeof status>>;

/** Bans listed on the Overview (all of them: `ban list`). */
const OVERVIEW_BANS = 50;
const statusText = (r: Status) =>
  [
    `mail server: ${r.running ? 'running' : 'stopped'} (runtime ${r.runtime}${r.enabled ? '' : ', not enabled at boot'})`,
    ...(r.container ? [`  container ${r.container.name}: ${r.container.state}${r.container.address ? `, ${r.container.address}` : ''}${r.container.memoryBytes !== null ? `, ${Math.round(r.container.memoryBytes / 1048576)} MiB` : ''}${r.container.distribution ? `, ${r.container.distribution}` : ''}`] : []),
    ...r.services.map((s) => `  ${s.name}: ${s.running ? `running (pid ${s.pid})` : 'stopped'}`),
    ...r.services.filter((s) => s.problem).map((s) => `  ${s.name}: ${s.problem}`),
    ...(r.held ? [`  held: mail is held (refused with 4xx, senders retry later): ${r.held}`] : []),
    ...r.ports.map((p) => `  port ${p.port} (${p.name}): ${p.open ? 'open' : 'CLOSED'}`),
    ...virusText(r.virus),
    ...r.notices.map((x) => `  NOTE: ${x}`),
    ...(r.bans ? [`  bans: ${r.bans.count} address${r.bans.count === 1 ? '' : 'es'} banned${r.bans.watching ? '' : ' (the ban watcher is not running)'}${r.bans.error ? ` (${r.bans.error})` : ''}`] : []),
    ...r.restarts.map((x) => `  ${x.text}`),
  ].join('\n');

const virusText = (v: Status['virus']): string[] => {
  if (!v.enabled) return ['  virus scan: off'];
  const mib = (b: number | null) => (b === null ? '?' : `${Math.round(b / 1048576)} MiB`);
  const age = v.signatures.ageDays === null ? 'none' : `${v.signatures.files} files, updated ${v.signatures.updated} (${v.signatures.ageDays} days ago)`;
  return [
    `  virus scan: ${v.state}${v.clamd.running ? ` (clamd pid ${v.clamd.pid}, ${mib(v.clamd.memoryBytes)})` : ''}${v.milter ? `, clamav-milter ${v.milter.running ? 'running' : 'stopped'}` : ''}`,
    `  virus signatures: ${age}`,
    ...(v.message ? [`  WARNING: ${v.message}`] : []),
  ];
};

interface TickReport {
  converged: string[];
  convergeError?: string;
  restarts: { text: string }[];
  certificate: { renewed: boolean; reason?: string; error?: string };
  dkimRetired: { removed: string[]; byHand: string[]; errors: string[] };
  dns: { ok: boolean; problems: unknown[]; notes: string[] } | { error: string };
  jobsPruned: number;
  mesh: MeshSchedule;
}

function tickText(r: TickReport): string {
  const dns = 'error' in r.dns ? `DNS check failed: ${r.dns.error}` : r.dns.ok ? 'DNS as expected' : `DNS: ${r.dns.problems.length} record(s) differ${r.dns.notes.length ? `; ${r.dns.notes.join('; ')}` : ''}`;
  return [
    r.convergeError ? `configuration could not be applied: ${r.convergeError}` : r.converged.length ? `configuration: ${r.converged.length} file(s) changed` : 'configuration unchanged',
    ...r.restarts.map((x) => x.text),
    r.certificate.error ? `certificate renewal failed: ${r.certificate.error}` : r.certificate.renewed ? 'certificate renewed' : `certificate: ${r.certificate.reason ?? 'not due'}`,
    ...r.dkimRetired.removed.map((k) => `DKIM key retired: ${k}`),
    ...r.dkimRetired.byHand.map((k) => `DKIM record to remove by hand: ${k}`),
    ...r.dkimRetired.errors.map((k) => `DKIM retirement failed: ${k}`),
    dns,
    ...(r.jobsPruned ? [`${r.jobsPruned} old job(s) forgotten`] : []),
    ...(r.mesh.started ? [`mesh: ${r.mesh.started} started (job ${r.mesh.job})`] : r.mesh.error ? [`mesh: ${r.mesh.error}`] : []),
  ].join('\n');
}

/**
 * A restore or pull killed after it stopped the daemons (or mid-swap) left them stopped, and
 * unwanted: tick finishes its swap and starts them, as the killed call would have, and goes on
 * with the settings the swap brought.
 */
async function afterInterruptedRestore(ctx: Context, lock: Lock): Promise<Context> {
  return (await finishInterruptedRestore(ctx, lock)) ?? ctx;
}

/** A server that should run (or runs: one started before `start` recorded it). */
const serverWanted = async (ctx: Context) => isWanted() || (await status(ctx)).running;

/** tick after the healing: converge, renew, retire, check DNS, prune (under the write lock). */
async function tickWork<R extends { text: string; ok: boolean }>(ctx: Context, wanted: boolean, restarts: R[]) {
  const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
  let converged: string[] = [];
  let convergeError: string | undefined;
  if (wanted) {
    try {
      converged = applyFull(ctx).changed;
    } catch (e) {
      convergeError = message(e);
    }
  }
  // tick holds the write lock already; a failed renewal is reported, not fatal to the rest.
  const certificate = await sslRenew(ctx, { scheduled: true, lock: async (fn) => fn() }).then(
    (r) => ({ renewed: r.renewed, reason: r.reason }),
    (e: unknown) => ({ renewed: false, error: message(e) }),
  );
  const dkimRetired = await retireExpiredKeys(ctx);
  // Last, so it sees what the retirement removed; the summary is what the Overview shows.
  const dns = await checkDns(ctx.settings, ctx.layout).then(
    (r) => recordDnsHealth(ctx.layout, r),
    (e: unknown) => ({ error: message(e) }),
  );
  return { converged, ...(convergeError ? { convergeError } : {}), restarts, certificate, dkimRetired, dns, jobsPruned: pruneJobs(7), mesh: scheduleMeshWork(ctx) };
}

export const serviceMethods = [
  method({
    name: 'overview',
    access: 'read',
    doc: "The page's first screen in one call: service, ports, counts, queue, disk, certificate, quotas, last DNS check, jobs, firewall",
    cli: ['overview'],
    args: {},
    handler: async (_a, ctx) => {
      const bans = readBans(ctx.layout, ctx.settings);
      const service = await status(ctx, bans);
      return {
        host: mailHost(ctx.settings),
        service,
        counts: { mailboxes: viewSortedMailboxes(ctx.layout, stampedUsers(ctx.layout)).total, aliases: viewAliases(ctx.layout).size, domains: mailDomains(ctx.settings).length },
        queue: queueSize(ctx.layout),
        disk: diskSpace(ctx.layout),
        certificate: certificateSummary(ctx.layout),
        // What "empty = the server's default" means in the add-mailbox form (bytes; 0 = unlimited).
        quota: { enabled: ctx.settings.features.quota, default: ctx.settings.features.quotaDefault },
        // The last DNS check (dns_check or tick), never a new one: lookups can take seconds.
        dns: loadDnsHealth(ctx.layout),
        jobs: listJobs().filter((j) => j.state === 'running'),
        // The first bans (the count is service.bans); the Overview lifts them one by one.
        bans: bans.bans.slice(0, OVERVIEW_BANS),
        // What our fw4 sections open from the WAN zone (a file read).
        firewall: firewallStatus(ctx.settings),
        // The last restore drill (`mesh verify`, or tick's weekly one); null = never.
        meshVerify: readSyncState(ctx.layout).verify ?? null,
      };
    },
  }),
  method({
    name: 'install',
    access: 'write',
    job: true,
    doc: 'Make the server ready: the container (runtime lxc: phases rootfs, packages, configure, start; repairs what is missing) or, on the host runtime, check the daemons; data, certificate, configuration',
    cli: ['install'],
    args: { rootfs: arg.absolutePath('runtime lxc: make the container from this rootfs tarball (checked against FILE.sha256 when it exists)').optional() },
    handler: ({ rootfs }, ctx) => withWriteLock(() => install(ctx, rootfs)),
    text: (r) =>
      r.container
        ? [
            r.done.length ? r.done.map((d) => `  ${d}`).join('\n') : `nothing to do: container '${r.container.name}' is installed and ${r.container.state}`,
            `container '${r.container.name}': ${r.container.state}, ${r.container.distribution ?? 'unknown distribution'}; Postfix ${r.postfixVersion}, Dovecot ${r.dovecotVersion}`,
          ].join('\n')
        : `ready: Postfix ${r.postfixVersion}, Dovecot ${r.dovecotVersion}; start with \`mailctl start\``,
  }),
  method({
    name: 'uninstall',
    access: 'write',
    doc: "Remove the container (runtime lxc); data_path stays unless --purge",
    cli: ['uninstall'],
    args: { purge: arg.flag('also delete data_path: every mailbox, key and certificate').optional() },
    handler: ({ purge }, ctx) => uninstall(ctx, purge ?? false),
    text: (r) => `${r.removed ? `container '${r.container}' removed` : `no container '${r.container}' to remove`}; ${r.purged ? `${r.dataPath} deleted` : `data kept in ${r.dataPath}`}`,
  }),
  method({
    name: 'test_send',
    access: 'write',
    doc: 'Send a test message from the postmaster to an address',
    cli: ['test'],
    args: { to: arg.anyEmail('recipient').word() },
    handler: ({ to }, ctx) => sendTestMessage(ctx, to),
    text: (r) => {
      const queued = `test message to ${r.to} queued as ${r.messageId}${r.queueId ? ` (${r.queueId})` : ''}`;
      if (r.status === null) return `${queued}; no delivery attempt logged yet (see mailctl logs)`;
      return [`${queued}: ${r.status} (${r.reason})`, ...r.tls.map((l) => `  ${l}`)].join('\n');
    },
  }),
  method({
    name: 'tick',
    access: 'write',
    doc: 'Periodic work (cron): finish a restore a kill cut short, re-converge a running server, renew the certificate when due, retire DKIM keys past their grace period, check DNS for drift, forget old jobs, start the mesh push (every mesh.sync_interval) or the weekly restore drill',
    cli: ['tick'],
    args: {},
    handler: async (_a, given) => {
      const ctx = await afterInterruptedRestore(given, async (fn) => fn());
      const wanted = await serverWanted(ctx);
      // Heal first: converging would start a missing milter too, without recording why.
      return tickWork(ctx, wanted, wanted ? heal(ctx) : []);
    },
    // Under procd the healing goes through the init script, before the write lock is taken.
    underProcd: async (_a, given, locked) => {
      const ctx = await afterInterruptedRestore(given, (fn) => locked(() => fn()));
      const wanted = await serverWanted(ctx);
      const restarts = wanted ? heal(ctx) : [];
      return locked((c) => tickWork(c, wanted, restarts));
    },
    text: tickText,
    // Something that should run could not be brought back: cron mails the output of a failure.
    failed: (r) => r.restarts.some((x) => !x.ok) || r.convergeError !== undefined,
  }),
  method({ name: 'status', access: 'read', doc: 'State of the daemons and their ports', cli: ['status'], args: {}, handler: (_a, ctx) => status(ctx), text: statusText }),
  method({ name: 'start', access: 'write', doc: 'Apply the configuration and start the daemons (on a router: through procd)', cli: ['start'], args: {}, handler: (_a, ctx) => start(ctx), underProcd: (_a, ctx, locked) => startThroughProcd(ctx, locked), text: statusText }),
  method({ name: 'stop', access: 'write', doc: 'Stop the daemons (on a router: through procd)', cli: ['stop'], args: {}, handler: (_a, ctx) => stop(ctx), underProcd: (_a, ctx) => stopThroughProcd(ctx), text: statusText }),
  method({
    name: 'restart',
    access: 'write',
    doc: 'Stop and start the daemons (on a router: through procd)',
    cli: ['restart'],
    args: {},
    handler: async (_a, ctx) => {
      await stop(ctx);
      return start(ctx);
    },
    underProcd: async (_a, ctx, locked) => {
      await stopThroughProcd(ctx);
      return startThroughProcd(ctx, locked);
    },
    text: statusText,
  }),
  method({
    name: 'apply',
    access: 'write',
    doc: 'Render every configuration file; write and reload only what changed',
    cli: ['apply'],
    args: {},
    handler: (_a, ctx) => applyFull(ctx),
    text: (r) => (r.changed.length ? `changed:\n${r.changed.map((f) => `  ${f}`).join('\n')}${r.reloaded.length ? `\nreloaded: ${r.reloaded.join(', ')}` : ''}` : 'nothing changed'),
  }),
  method({
    name: 'migrate',
    access: 'write',
    doc: "Convert data written by SecuBox's shell mailctl to this layout, keeping every message",
    cli: ['migrate'],
    args: {},
    handler: (_a, ctx) => migrate(ctx),
    text: (r) => (r.migrated ? `migrated ${r.mailboxes} mailboxes, moved ${r.maildirsMoved} maildirs` : 'nothing to migrate'),
  }),
  method({
    name: 'logs',
    access: 'read',
    doc: 'Last lines of the mail logs',
    cli: ['logs'],
    args: { lines: arg.integer('how many lines (default 50)', 1, 5000).word().optional(), service: arg.oneOf('postfix or dovecot (default both)', ['postfix', 'dovecot'] as const).optional() },
    handler: ({ lines = 50, service }, ctx) => {
      const services = service ? [service] : (['postfix', 'dovecot'] as const);
      const all = services.flatMap((s) => (readText(logFile(ctx, s)) ?? '').split('\n').filter((l) => l !== ''));
      return { lines: all.slice(-lines) };
    },
    text: (r) => r.lines.join('\n'),
  }),
];
