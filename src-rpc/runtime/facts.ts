// Facts about the installed daemons that cost a process spawn to learn. Learned at start and
// apply, then reused, so a `user add` does not pay for `postconf -d` every time.
import { join } from 'node:path';
import { readText, writeAtomic, ensureDir } from '../sys/fs.ts';
import { MailError } from '../core/errors.ts';
import type { Layout } from '../core/layout.ts';
import type { MapType } from '../render/view.ts';
import type { Machine } from './machine.ts';

export interface DaemonFacts {
  mapType: MapType;
  postfixVersion: string;
  dovecotVersion: string;
}

const factsFile = (l: Layout) => join(l.stateDir, 'facts.json');

/** Asked of the machine the daemons run on (inside the container for the lxc runtime). */
export function learnFacts(l: Layout, machine: Machine): DaemonFacts {
  const postconf = machine.run(['postconf', '-d', '-h', 'default_database_type', 'mail_version']);
  if (postconf.code === 127) throw new MailError('unsupported', 'Postfix is not installed (postconf not found)');
  if (postconf.code !== 0) throw new MailError('daemon_error', `postconf failed: ${(postconf.stderr || postconf.stdout).trim().split('\n').pop() ?? ''}`);
  const [defaultMapType, postfixVersion] = postconf.stdout.trim().split('\n');
  const mapType = readsCdb(l, machine) ? 'cdb' : defaultMapType;
  const dovecot = machine.run(['dovecot', '--version']);
  if (dovecot.code === 127) throw new MailError('unsupported', 'Dovecot is not installed (dovecot not found)');
  const facts = {
    mapType: (mapType ?? 'hash') as MapType,
    postfixVersion: postfixVersion ?? '',
    dovecotVersion: dovecot.stdout.trim().split(' ')[0] ?? '',
  };
  ensureDir(l.stateDir, { mode: 0o755 });
  writeAtomic(factsFile(l), JSON.stringify(facts) + '\n');
  return facts;
}

/**
 * cdb when this Postfix reads it (OpenWrt's default; Debian's with postfix-cdb): we write cdb
 * tables ourselves, the other types need a postmap process per change. `postconf -m` reads a
 * main.cf before it lists the types, and ours may not exist yet: it gets an empty one in state/.
 */
function readsCdb(l: Layout, machine: Machine): boolean {
  const probe = join(l.stateDir, 'postconf-probe');
  ensureDir(probe, { mode: 0o755 });
  writeAtomic(join(probe, 'main.cf'), '');
  const r = machine.run(['postconf', '-c', machine.path(probe), '-m']);
  return r.code === 0 && r.stdout.split('\n').includes('cdb');
}

export function knownFacts(l: Layout, machine: Machine): DaemonFacts {
  const text = readText(factsFile(l));
  return text ? (JSON.parse(text) as DaemonFacts) : learnFacts(l, machine);
}
