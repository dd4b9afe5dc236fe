// A restored /etc/config/mailserver brings the mail identity of the node that made the backup
// (domain, host name, DNS, DKIM, TLS, features) but not what belongs to this machine: where the
// data lives, which addresses and ports it listens on, how the daemons run, and its own peers.
import { parseUci, serializeUci, ensureSection, type UciPackage } from '../config/uci.ts';

/** section → options kept from this node ('*' = the whole section). */
const MACHINE_OPTIONS: Record<string, string[] | '*'> = {
  main: ['data_path', 'listen', 'runtime'],
  ports: '*',
  mesh: '*',
};

export function keepMachineOptions(restoredText: string, current: UciPackage): string {
  const restored = parseUci(restoredText);
  for (const [name, options] of Object.entries(MACHINE_OPTIONS)) {
    const mine = current.sections.find((s) => s.name === name);
    const theirs = restored.sections.find((s) => s.name === name);
    if (!mine) {
      if (theirs && options === '*') restored.sections = restored.sections.filter((s) => s !== theirs);
      else if (theirs) for (const o of options) theirs.options.delete(o);
      continue;
    }
    const target = theirs ?? ensureSection(restored, mine.type, name);
    const keys = options === '*' ? [...new Set([...target.options.keys(), ...mine.options.keys()])] : options;
    for (const o of keys) {
      const value = mine.options.get(o);
      if (value === undefined) target.options.delete(o);
      else target.options.set(o, value);
    }
  }
  return serializeUci(restored);
}
