// Postfix `cdb:` lookup tables, written without postmap. A cdb file is D. J. Bernstein's constant
// database (https://cr.yp.to/cdb/cdb.txt): a 2048-byte header of 256 (position, slots) pairs,
// the records as (key length, value length, key, value), then 256 open-addressing hash tables of
// (hash, record position) pairs, twice as many slots as records. Records go into their table in
// input order, as tinycdb (which Postfix links) places them, so the bytes equal postmap's.
// No postmap process per change: a 10 000-entry table takes a few ms here once the code is
// warm, ~35 ms in a cold mailctl on a 2-core x86 (stop 21's profile).

const HEADER = 2048;

/** The cdb file of `entries` (each key once), keys and values as UTF-8. */
export function encodeCdb(entries: ReadonlyArray<readonly [string, string]>): Buffer {
  const { out, hashes, positions, end } = writeRecords(entries);
  const tableSizes = new Uint32Array(256);
  for (const h of hashes) tableSizes[h & 0xff]! += 2;
  const tableStart = new Uint32Array(256);
  for (let t = 0, at = end; t < 256; at += tableSizes[t]! * 8, t++) {
    tableStart[t] = at;
    out.writeUInt32LE(at, t * 8);
    out.writeUInt32LE(tableSizes[t]!, t * 8 + 4);
  }
  // Each table's slots, filled in input order with linear probing; 0 marks a free slot (no
  // record sits at position 0, the header does).
  for (let i = 0; i < hashes.length; i++) {
    const t = hashes[i]! & 0xff;
    const slots = tableSizes[t]!;
    let slot = (hashes[i]! >>> 8) % slots;
    while (out.readUInt32LE(tableStart[t]! + slot * 8 + 4) !== 0) slot = (slot + 1) % slots;
    out.writeUInt32LE(hashes[i]!, tableStart[t]! + slot * 8);
    out.writeUInt32LE(positions[i]!, tableStart[t]! + slot * 8 + 4);
  }
  return out;
}

/** cdb's hash of the bytes: h = ((h << 5) + h) ^ byte, from 5381, in 32 bits. */
function cdbHash(bytes: Buffer, from: number, to: number): number {
  let h = 5381;
  for (let b = from; b < to; b++) h = (((h << 5) + h) ^ bytes[b]!) >>> 0;
  return h;
}

/** The header-sized gap, then the records; the buffer is sized for the hash tables to follow. */
function writeRecords(entries: ReadonlyArray<readonly [string, string]>) {
  const hashes = new Uint32Array(entries.length);
  const positions = new Uint32Array(entries.length);
  let recordBytes = 0;
  for (const [k, v] of entries) recordBytes += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  const out = Buffer.alloc(HEADER + recordBytes + 16 * entries.length);
  let pos = HEADER;
  entries.forEach(([key, value], i) => {
    const keyLength = out.write(key, pos + 8);
    const valueLength = out.write(value, pos + 8 + keyLength);
    out.writeUInt32LE(keyLength, pos);
    out.writeUInt32LE(valueLength, pos + 4);
    hashes[i] = cdbHash(out, pos + 8, pos + 8 + keyLength);
    positions[i] = pos;
    pos += 8 + keyLength + valueLength;
  });
  return { out, hashes, positions, end: pos };
}

const isBlank = (c: number) => c === 32 || c === 9;

/**
 * The entries of a Postfix table source as postmap reads it: `key value` lines, blank and `#`
 * lines skipped, keys lowercased; postmap warns about and skips a key without a value and all but
 * the first of duplicate keys. Continuation lines (leading whitespace) are never rendered: refused.
 */
export function mapSourceEntries(text: string): Array<[string, string]> {
  const seen = new Set<string>();
  const entries: Array<[string, string]> = [];
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '' || line.charCodeAt(0) === 35 /* # */) continue;
    if (isBlank(line.charCodeAt(0))) throw new Error(`table source: continuation lines are not supported: ${JSON.stringify(line)}`);
    let keyEnd = 0;
    while (keyEnd < line.length && !isBlank(line.charCodeAt(keyEnd))) keyEnd++;
    const value = line.slice(keyEnd).trim();
    const key = line.slice(0, keyEnd).toLowerCase();
    if (value === '' || seen.has(key)) continue;
    seen.add(key);
    entries.push([key, value]);
  }
  return entries;
}
