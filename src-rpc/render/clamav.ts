// ClamAV for features.virus_scan=1: our own clamd (signatures kept current by our own freshclam
// daemon) and, when Rspamd is off, clamav-milter as Postfix's milter. With Rspamd on, Rspamd's
// antivirus module asks clamd instead. Every socket is a Unix socket in a directory only the
// daemons that use it can enter (DESIGN: local sockets).
//
// Infected mail is refused while the client still talks to us (5xx naming the detection); a scan
// that cannot happen (clamd down, still loading) defers the mail (4xx): it is never accepted
// unscanned and never bounced later.
import type { Settings } from '../config/settings.ts';
import { MESSAGE_SIZE_LIMIT } from './postfix-main.ts';
import { GENERATED, lineSafe } from './text.ts';

export interface ClamavView {
  /** The unprivileged user clamd, clamav-milter and freshclam run as. */
  user: string;
  databaseDir: string;
  /** Directory of clamd's socket and pid file; its group is the group of clamd's client (Rspamd's, or ClamAV's own for the milter). */
  clamdRunDir: string;
  /** Directory of the milter's socket and pid file; its group is Postfix's. */
  milterRunDir: string;
  /** Directory of clamd.log, clamav-milter.log and freshclam.log. */
  logDir: string;
  /** Path of the rendered clamd.conf as freshclam sees it (it tells clamd to reload). */
  clamdConfigFile: string;
  /**
   * clamav-milter stays in the foreground (it has no command-line switch for it): on the host
   * procd runs it as an instance and `mailctl start` puts it in the background itself; in a
   * container our init starts it, and it must fork.
   */
  milterForeground: boolean;
}

/** Official databases (main, daily, bytecode) need about this much memory in clamd. */
export const CLAMAV_FULL_SET_MEMORY = 1024 * 1024 * 1024;
/** ClamAV's official mirror (freshclam's DatabaseMirror). */
export const CLAMAV_OFFICIAL_MIRROR = 'database.clamav.net';
/** Rspamd's symbols: a detection, and a scan that could not be made. */
export const RSPAMD_VIRUS_SYMBOL = 'CLAM_VIRUS';

type RunDirs = Pick<ClamavView, 'clamdRunDir' | 'milterRunDir'>;
export const clamdSocket = (v: RunDirs) => `${v.clamdRunDir}/clamd.sock`;
export const clamdPidFile = (v: RunDirs) => `${v.clamdRunDir}/clamd.pid`;
export const milterSocket = (v: RunDirs) => `${v.milterRunDir}/clamav-milter.sock`;
export const milterPidFile = (v: RunDirs) => `${v.milterRunDir}/clamav-milter.pid`;
export const freshclamPidFile = (v: RunDirs) => `${v.clamdRunDir}/freshclam.pid`;

/** The milter clamav-milter serves when the settings want it (Rspamd off), for smtpd_milters. */
export function clamavMilterAddress(s: Settings, v: ClamavView): string | undefined {
  return s.features.virusScan && !s.features.spamFilter ? `unix:${milterSocket(v)}` : undefined;
}

// ClamAV's config syntax: `Option Value`, one per line; values are single words or quoted paths.
const line = (key: string, value: string | number) => `${key} ${lineSafe(key, String(value))}`;
const file = (lines: string[]) => [GENERATED, ...lines, ''].join('\n');

/** Files relative to the ClamAV config directory. */
export function renderClamav(s: Settings, v: ClamavView): Record<string, string> {
  const mirror = s.features.virusMirror;
  return {
    'clamd.conf': file([
      line('LocalSocket', clamdSocket(v)),
      // Who may connect is decided by the socket's directory (clamav:<client group>, 0750): clamd
      // has dropped its privileges when it creates the socket and cannot give it another group.
      line('LocalSocketMode', '666'),
      line('FixStaleSocket', 'yes'),
      line('User', v.user),
      line('PidFile', clamdPidFile(v)),
      line('DatabaseDirectory', v.databaseDir),
      line('LogFile', `${v.logDir}/clamd.log`),
      line('LogTime', 'yes'),
      line('Foreground', 'no'),
      line('ScanMail', 'yes'),
      // A router has little memory: a few threads, and never two signature sets at once while
      // reloading (scans wait during a reload instead; Rspamd/the milter defer meanwhile).
      line('MaxThreads', 4),
      line('ConcurrentDatabaseReload', 'no'),
      line('StreamMaxLength', `${Math.ceil(MESSAGE_SIZE_LIMIT / 1024 / 1024) + 1}M`),
      line('SelfCheck', 3600),
    ]),
    'clamav-milter.conf': file([
      line('MilterSocket', `unix:${milterSocket(v)}`),
      // Its directory (clamav:postfix, 0750) keeps everyone but Postfix out.
      line('MilterSocketMode', '666'),
      line('FixStaleSocket', 'yes'),
      line('User', v.user),
      line('PidFile', milterPidFile(v)),
      line('ClamdSocket', `unix:${clamdSocket(v)}`),
      line('Foreground', v.milterForeground ? 'yes' : 'no'),
      line('OnClean', 'Accept'),
      line('OnInfected', 'Reject'),
      // clamd unreachable or failing: 4xx, the client retries; never accepted unscanned.
      line('OnFail', 'Defer'),
      line('RejectMsg', '"Message refused: virus found: %v"'),
      line('AddHeader', 'Replace'),
      line('MaxFileSize', `${Math.ceil(MESSAGE_SIZE_LIMIT / 1024 / 1024) + 1}M`),
      line('LogFile', `${v.logDir}/clamav-milter.log`),
      line('LogTime', 'yes'),
      line('LogInfected', 'Basic'),
    ]),
    'freshclam.conf': file([
      line('DatabaseDirectory', v.databaseDir),
      line('DatabaseOwner', v.user),
      line('UpdateLogFile', `${v.logDir}/freshclam.log`),
      line('LogTime', 'yes'),
      line('PidFile', freshclamPidFile(v)),
      line('Foreground', 'no'),
      // Its own schedule: every 2 hours (freshclam -d), and clamd reloads what it downloaded.
      line('Checks', 12),
      line('NotifyClamd', v.clamdConfigFile),
      line('MaxAttempts', 2),
      line('ConnectTimeout', 15),
      line('ReceiveTimeout', 120),
      ...(mirror === null
        ? [line('DatabaseMirror', CLAMAV_OFFICIAL_MIRROR)]
        : // A private mirror serves plain files: no DNS version record to ask.
          [line('PrivateMirror', mirror), line('DNSDatabaseInfo', 'no')]),
    ]),
  };
}

/**
 * Rspamd's antivirus module → clamd, and force_actions turning a failed scan into a soft reject
 * (4xx). Files relative to Rspamd's LOCAL_CONFDIR; rendered empty (no rule) when virus_scan=0 so
 * turning the option off removes the scanner.
 */
export function renderRspamdAntivirus(s: Settings, v: ClamavView): Record<string, string> {
  const q = (x: string) => `"${lineSafe('rspamd value', x).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  const on = s.features.virusScan;
  const header = `# ${GENERATED.slice(2)}`;
  return {
    'override.d/antivirus.conf': [
      header,
      ...(on
        ? [
            'clamav {',
            '  type = "clamav";',
            `  servers = ${q(clamdSocket(v))};`,
            `  symbol = "${RSPAMD_VIRUS_SYMBOL}";`,
            '  action = "reject";',
            // The whole message, text parts too (the default scans attachments only).
            '  scan_mime_parts = false;',
            `  max_size = ${MESSAGE_SIZE_LIMIT};`,
            '  message = \'${SCANNER}: virus found: "${VIRUS}"\';',
            '  timeout = 30;',
            '  retransmits = 1;',
            '}',
          ]
        : []),
      '',
    ].join('\n'),
    'override.d/force_actions.conf': [
      header,
      ...(on
        ? [
            'rules {',
            `  ${RSPAMD_VIRUS_SYMBOL}_UNSCANNED {`,
            '    action = "soft reject";',
            `    expression = "${RSPAMD_VIRUS_SYMBOL}_FAIL";`,
            '    message = "virus scanner unavailable: please try again later";',
            '  }',
            '}',
          ]
        : []),
      '',
    ].join('\n'),
  };
}
