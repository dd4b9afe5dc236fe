// Every absolute path the product touches lives under MAILSERVER_ROOT ("/" on a router), so
// tests, `npm start` and CI run the whole product inside a throwaway root.
import { join, resolve } from 'node:path';

export function sandboxRoot(): string {
  return resolve(process.env.MAILSERVER_ROOT || '/');
}

/** Host path of an absolute product path, e.g. /etc/config/mailserver. */
export function hostPath(absolute: string): string {
  return join(sandboxRoot(), absolute);
}
