// What the renderers need to know about the machine the daemons run on. Paths are as the
// daemons see them (inside an LXC container data_path is mounted elsewhere than on the host).

export type MapType = 'hash' | 'cdb' | 'lmdb' | 'btree';

export interface RuntimeView {
  /** data_path/config: users, valias, rendered maps. */
  configDir: string;
  /** data_path/mail: maildirs as <domain>/<user>/. */
  mailDir: string;
  /** data_path/ssl: fullchain.pem, privkey.pem. */
  sslDir: string;
  /** data_path/secrets/postfix: Postfix's own secrets (the relay's password map), 0600 files. */
  postfixSecretsDir: string;
  /** Directory holding main.cf and master.cf (postfix -c DIR). */
  postfixConfigDir: string;
  postfixQueueDir: string;
  postfixDataDir: string;
  /** Path of dovecot.conf (dovecot -c FILE). */
  dovecotConfigFile: string;
  dovecotBaseDir: string;
  dovecotStateDir: string;
  /** Directory holding mail.log (Postfix maillog_file) and dovecot.log. */
  logDir: string;
  mailUid: number;
  mailGid: number;
  /** Postfix's default_database_type. */
  mapType: MapType;
  /** Postfix's mail_version: settings that only some releases know follow it. */
  postfixVersion: string;
}

/** Mailbox data the renderers see (no password hashes). */
export interface MailboxView {
  email: string;
  /** Bytes; 0 = unlimited; null = the default. */
  quota: number | null;
}

/** An alias: `alias` is an address or `@domain` (catch-all). */
export interface AliasView {
  alias: string;
  targets: string[];
}
