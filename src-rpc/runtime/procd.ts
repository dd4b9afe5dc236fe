// The host runtime under procd (OpenWrt): the instances /etc/init.d/mailserver declares, built
// from the same command lines `mailctl start` runs (in their foreground form; the lxc runtime's
// are the container and the ban watcher), and the hand-over of start / stop / heal / milter
// switches to the init script when procd supervises the daemons.
import { join } from 'node:path';
import { statOrNull, exists } from '../sys/fs.ts';
import { run, startInBackground } from '../sys/spawn.ts';
import { hostPath } from '../sys/paths.ts';
import { MailError } from '../core/errors.ts';
import { dovecotCommand } from './host.ts';
import { postfixInetInterfaces } from '../render/postfix-main.ts';
import { wantedMilter, milterCommands, prepareMilterRun, rspamdPidFile } from './signing.ts';
import { clamavCommand, clamavMilterAfterClamd, prepareClamavRun, clamdCanStart } from './clamav.ts';
import { containerForeground } from './lxc.ts';
import type { Layout } from '../core/layout.ts';
import type { Settings } from '../config/settings.ts';

export const INIT_SCRIPT = '/etc/init.d/mailserver';

/**
 * procd supervises the daemons where the package's init script and procd are installed: an
 * OpenWrt router. Decided from what is installed, not from what runs: a marker written by the
 * init script's start would go stale when procd gives up on a crash loop or a `ubus call service
 * delete` bypasses the script, and asking `ubus call service list` needs ubusd up and answering
 * (not yet during boot, and a call back into ubus from inside the rpcd plugin). On a router,
 * every start therefore goes through procd, whether the service runs now or not; elsewhere (dev,
 * tests, CI) mailctl runs the daemons itself.
 */
export function procdSupervises(): boolean {
  const script = statOrNull(hostPath(INIT_SCRIPT));
  return script !== null && (script.mode & 0o111) !== 0 && exists(hostPath('/sbin/procd'));
}

export interface ProcdInstance {
  name: string;
  command: string[];
  /** Seconds procd waits after SIGTERM before SIGKILL (procd's default: 5). */
  termTimeout?: number;
}

/**
 * `postfix start-fg` is postfix-script (a shell) waiting for `master`, which runs in its own
 * session: procd's SIGTERM reaches only the shell, and a master left running makes every later
 * start-fg fail with "the Postfix mail system is already running". This wrapper (procd's
 * instance) first stops a master of this configuration that a killed wrapper left behind (kill
 * -9, or a `postfix stop` that outlasted term_timeout), turns procd's TERM into `postfix stop`,
 * and exits when master is gone. $1 is the configuration directory.
 */
const POSTFIX_FOREGROUND = [
  'postfix -c "$1" status >/dev/null 2>&1 && postfix -c "$1" stop >/dev/null 2>&1',
  'trap "postfix -c \\"\\$1\\" stop" TERM INT',
  'postfix -c "$1" start-fg & pid=$!',
  'while :; do wait "$pid"; rc=$?; kill -0 "$pid" 2>/dev/null || exit "$rc"; sleep 1; postfix -c "$1" stop >/dev/null 2>&1; done',
].join('; ');

/** $0 $1: mailctl (node and the bundle), $2: the pid file, then Rspamd's command line. */
const RSPAMD_FOREGROUND = '"$0" "$1" procd-prestart rspamd; echo $$ >"$2"; shift 2; exec "$@"';

/** The container's init stops its daemons in turn (Postfix's own stop included) on SIGTERM. */
const CONTAINER_TERM_TIMEOUT = 60;

/** `postfix stop` waits for master to end its processes: well past procd's 5 s default. */
const POSTFIX_TERM_TIMEOUT = 30;

/**
 * Every daemon the settings need, in the order procd starts them (its order of declaration).
 * lxc runtime: the container (its init starts the daemons inside), the ban watcher. Host
 * runtime: Dovecot (Postfix delivers to its LMTP socket), ClamAV (the milters ask clamd; with
 * Rspamd off, clamav-milter is one of Postfix's milters), the signing milter (mail waits without
 * the milters: milter_default_action = tempfail), Postfix, the ban watcher. Prepares the
 * directories each needs, as `mailctl start` does before starting them.
 */
export function procdInstances(l: Layout, s: Settings, mailctl: string[]): ProcdInstance[] {
  if (s.main.runtime === 'lxc') return [{ name: 'container', command: containerForeground(s), termTimeout: CONTAINER_TERM_TIMEOUT }, ...banWatchInstances(s, mailctl)];
  const instances: ProcdInstance[] = [{ name: 'dovecot', command: dovecotCommand(l, true) }];
  if (s.features.virusScan) {
    prepareClamavRun(s, l);
    instances.push({ name: 'freshclam', command: clamavCommand(l, 'freshclam') });
    // clamd refuses to start without signatures: it is declared by the first start (or reload,
    // or tick) after freshclam downloaded them.
    if (clamdCanStart(l)) {
      instances.push({ name: 'clamd', command: clamavCommand(l, 'clamd') });
      // Postfix's milter when Rspamd is off (Rspamd asks clamd itself).
      if (!s.features.spamFilter) instances.push({ name: 'clamav-milter', command: clamavMilterAfterClamd(l) });
    }
  }
  const milter = wantedMilter(s);
  if (milter) {
    prepareMilterRun(l, milter);
    for (const c of milterCommands(l, milter, s, true)) {
      // Rspamd writes no pid file in the foreground: the shell writes its own pid, which exec
      // hands to Rspamd, so status and reloads find the process procd watches; first, the
      // workers of a main killed with SIGKILL are ended (`mailctl procd-prestart rspamd`).
      const command = c.name === 'rspamd' ? ['/bin/sh', '-c', RSPAMD_FOREGROUND, ...mailctl, rspamdPidFile(l), ...c.argv] : c.argv;
      instances.push({ name: c.name, command });
    }
  }
  // The listen addresses ride along as an unused argument: Postfix binds them only when it starts,
  // and procd's reload restarts an instance whose command changed (and no other).
  const listen = `inet_interfaces=${postfixInetInterfaces(s)}`;
  instances.push({ name: 'postfix', command: ['/bin/sh', '-c', POSTFIX_FOREGROUND, 'postfix-start-fg', l.postfixConfigDir, listen], termTimeout: POSTFIX_TERM_TIMEOUT });
  return [...instances, ...banWatchInstances(s, mailctl)];
}

/** The ban watcher follows the daemons' logs on the router, beside them or beside their container. */
export function banWatchInstances(s: Settings, mailctl: string[]): ProcdInstance[] {
  return s.features.fail2ban ? [{ name: 'banwatch', command: [...mailctl, 'ban-watch', '--supervised'] }] : [];
}

/** A word busybox ash reads back unchanged with `eval "set -- $line"`. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** One instance a line: name, term_timeout (0: procd's default), then the command's words. */
export function instanceLines(instances: ProcdInstance[]): string {
  return instances.map((i) => [i.name, String(i.termTimeout ?? 0), ...i.command].map(shellWord).join(' ')).join('\n');
}

/**
 * `/etc/init.d/mailserver start|stop`, for mailctl on a router: never under the write lock
 * (the script's `mailctl procd-instances` takes it) and never from the init script itself.
 */
export function runInitScript(action: 'start' | 'stop'): void {
  const r = run([hostPath(INIT_SCRIPT), action]);
  if (r.code !== 0) throw new MailError('daemon_error', `${INIT_SCRIPT} ${action} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ') || `exit ${r.code}`}`);
}

/**
 * Ask procd for the instances the settings now need (a milter switched on or off): the init
 * script's reload, started in the background because it renders under the write lock the
 * caller holds; it runs once the caller's write is done.
 */
export function reloadThroughProcd(l: Layout): void {
  initScriptInBackground(l, 'reload');
}

/** `start` the same way, for a write that restarts the server (a restore) under the lock. */
export function startInBackgroundThroughProcd(l: Layout): void {
  initScriptInBackground(l, 'start');
}

function initScriptInBackground(l: Layout, action: 'start' | 'reload'): void {
  startInBackground(['/bin/sh', '-c', 'exec "$0" "$1" >>"$2" 2>&1', hostPath(INIT_SCRIPT), action, join(l.logDir, 'procd-init.log')]);
}
