// /var/run/mailserver: what must not outlive a reboot (tmpfs on a router), such as marks of a
// state that ends with it (the server wanted, our ban table loaded).
import { ensureDir } from './fs.ts';
import { hostPath } from './paths.ts';

/** Our run directory, made when missing: root's, readable by all (daemons find sockets below it). */
export function ensureRunDir(): void {
  ensureDir(hostPath('/var/run/mailserver'), { mode: 0o755, uid: 0, gid: 0 });
}
