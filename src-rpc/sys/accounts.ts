// System user and group ids of the daemons (the real /etc/passwd and /etc/group: the daemons
// run as the machine's users even inside a sandbox root).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function lookup(file: string, name: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  return null;
}

/** `root`: the system whose accounts count (a container's rootfs; `/` for this machine). */
export function systemGroupId(name: string, root = '/'): number | null {
  return lookup(join(root, 'etc/group'), name);
}

export function systemUserId(name: string, root = '/'): number | null {
  return lookup(join(root, 'etc/passwd'), name);
}
