// Where everything lives on the host, under MAILSERVER_ROOT. data_path keeps what must survive
// a reboot (accounts, mail, certificates, the queue); /var/run and /var/log are tmpfs on a router.
import { join } from 'node:path';
import { hostPath } from '../sys/paths.ts';
import type { Settings } from '../config/settings.ts';

export const UCI_FILE = '/etc/config/mailserver';
export const MAIL_UID = 5000;
export const MAIL_GID = 5000;
/**
 * data_path/secrets: files inside are 0600; the directory is traversable (not listable) so the
 * signing daemons, which are not root, can open their own DKIM keys in secrets/dkim/.
 */
export const SECRETS_DIR_MODE = 0o711;

export interface Layout {
  uciFile: string;
  dataPath: string;
  configDir: string;
  mailDir: string;
  sslDir: string;
  secretsDir: string;
  /**
   * Postfix's secrets (the relay's password map and its database): with secrets/dkim the only part
   * of secrets/ the daemons read, so the only part a container sees.
   */
  postfixSecretsDir: string;
  stateDir: string;
  postfixConfigDir: string;
  postfixQueueDir: string;
  postfixDataDir: string;
  dovecotConfigFile: string;
  dovecotBaseDir: string;
  dovecotStateDir: string;
  logDir: string;
  /** The router's web server's document root (client autoconfig documents). */
  webDocroot: string;
  /** The root whose /etc/passwd and /etc/group name the daemons' users: `/`, or the container's rootfs. */
  daemonsRoot: string;
}

export function uciFilePath(): string {
  return hostPath(UCI_FILE);
}

export function layoutFor(s: Settings): Layout {
  const data = hostPath(s.main.dataPath);
  const config = join(data, 'config');
  const state = join(data, 'state');
  return {
    uciFile: uciFilePath(),
    dataPath: data,
    configDir: config,
    mailDir: join(data, 'mail'),
    sslDir: join(data, 'ssl'),
    secretsDir: join(data, 'secrets'),
    postfixSecretsDir: join(data, 'secrets', 'postfix'),
    stateDir: state,
    postfixConfigDir: join(config, 'postfix'),
    postfixQueueDir: join(state, 'postfix'),
    postfixDataDir: join(state, 'postfix-data'),
    dovecotConfigFile: join(config, 'dovecot', 'dovecot.conf'),
    dovecotBaseDir: hostPath('/var/run/mailserver/dovecot'),
    dovecotStateDir: join(state, 'dovecot'),
    logDir: hostPath('/var/log/mailserver'),
    webDocroot: hostPath(s.autoconfig.docroot),
    daemonsRoot: s.main.runtime === 'lxc' ? hostPath(join(s.lxc.path, s.main.container, 'rootfs')) : '/',
  };
}
