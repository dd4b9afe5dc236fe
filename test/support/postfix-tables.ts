// The lookup-table type a sandbox's Postfix reads (cdb where Postfix has it, as on OpenWrt; else
// its default_database_type), as main.cf names it, and postmap's view of a table.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** `cdb`, `hash`, `lmdb`, … from main.cf's virtual_mailbox_maps in config/postfix. */
export function tableType(configDir: string): string {
  const mainCf = readFileSync(join(configDir, 'postfix', 'main.cf'), 'utf8');
  const type = /^virtual_mailbox_maps\s*=\s*(\w+):/m.exec(mainCf)?.[1];
  if (!type) throw new Error(`${configDir}/postfix/main.cf names no virtual_mailbox_maps table`);
  return type;
}

/** The database file postmap makes of a table source. */
export const databaseOf = (source: string, type: string) => `${source}.${type === 'hash' || type === 'btree' ? 'db' : type}`;

const pairs = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => /^(\S+)\s+(.*)$/.exec(l)!.slice(1, 3) as [string, string]);

/**
 * Every key → value of a built table, as Postfix reads it; throws when it cannot be read. Postfix
 * cannot list a cdb table (`postmap -s`: "sequence operation is not supported"): its keys come
 * from the file's record area (cdb.txt's layout), and postmap must then find each with its value.
 */
export function dumpTable(postfixConfigDir: string, type: string, source: string): Map<string, string> {
  const postmap = (args: string[], input?: string) => {
    const r = spawnSync('postmap', ['-c', postfixConfigDir, ...args, `${type}:${source}`], { encoding: 'utf8', input });
    if (r.status !== 0) throw new Error(`postmap ${args.join(' ')} ${source}: exit ${r.status} ${r.stderr}`);
    return r.stdout;
  };
  if (type !== 'cdb') return new Map(pairs(postmap(['-s'])));
  const bytes = readFileSync(databaseOf(source, type));
  let end = bytes.length;
  for (let t = 0; t < 256; t++) end = Math.min(end, bytes.readUInt32LE(t * 8));
  const records = new Map<string, string>();
  for (let at = 2048; at < end; ) {
    const keyLength = bytes.readUInt32LE(at);
    const valueLength = bytes.readUInt32LE(at + 4);
    records.set(bytes.toString('utf8', at + 8, at + 8 + keyLength), bytes.toString('utf8', at + 8 + keyLength, at + 8 + keyLength + valueLength));
    at += 8 + keyLength + valueLength;
  }
  const found = records.size ? new Map(pairs(postmap(['-q', '-'], [...records.keys()].join('\n') + '\n'))) : new Map<string, string>();
  for (const [key, value] of records) if (found.get(key) !== value) throw new Error(`${source}: postmap finds ${JSON.stringify(found.get(key))} for ${key}, the file holds ${JSON.stringify(value)}`);
  return records;
}
