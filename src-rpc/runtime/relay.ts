// Relay credentials live as a 0600 file under data_path/secrets, never in UCI.
import { join } from 'node:path';
import { readText, writeAtomic, ensureDir, removeFile } from '../sys/fs.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';

const file = (l: Layout) => join(l.secretsDir, 'relay-credentials');

export function readRelayCredentials(l: Layout): { user: string; password: string } | null {
  const text = readText(file(l));
  if (!text) return null;
  const newline = text.indexOf('\n');
  return { user: text.slice(0, newline), password: text.slice(newline + 1).replace(/\n$/, '') };
}

export function writeRelayCredentials(l: Layout, user: string, password: string): void {
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE, uid: 0, gid: 0 });
  writeAtomic(file(l), `${user}\n${password}\n`, { mode: 0o600, uid: 0, gid: 0 });
}

export function clearRelayCredentials(l: Layout): void {
  removeFile(file(l));
  // The password map: in secrets/postfix, and where versions before it kept it.
  for (const dir of [l.postfixSecretsDir, l.secretsDir]) {
    for (const name of ['relay_passwd', 'relay_passwd.db', 'relay_passwd.cdb', 'relay_passwd.lmdb']) removeFile(join(dir, name));
  }
}
