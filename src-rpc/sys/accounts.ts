// System user and group ids of the daemons (the real /etc/passwd and /etc/group: the daemons
// run as the machine's users even inside a sandbox root).
import { readFileSync } from 'node:fs';

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

export function systemGroupId(name: string): number | null {
  return lookup('/etc/group', name);
}

export function systemUserId(name: string): number | null {
  return lookup('/etc/passwd', name);
}
