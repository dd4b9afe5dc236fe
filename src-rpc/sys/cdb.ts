// Postfix `cdb:` lookup tables, written without postmap. A cdb file is D. J. Bernstein's constant
// database (https://cr.yp.to/cdb/cdb.txt): a 2048-byte header of 256 (position, slots) pairs,
// the records as (key length, value length, key, value), then 256 open-addressing hash tables of
// (hash, record position) pairs, twice as many slots as records. Records go into their table in
// input order, as tinycdb (which Postfix links) places them, so the bytes equal postmap's.
// No postmap process per change: a 10 000-entry table takes a few ms here once the code is
// warm, ~35 ms in a cold mailctl on a 2-core x86 (stop 21's profile); appending one record to
// it (appendCdb) ~1.5 ms cold.

import type { ByteSource, FilePart } from './file-ranges.ts';

const HEADER = 2048;

/** The cdb file of `entries` (each key once), keys and values as UTF-8. */
export function encodeCdb(entries: ReadonlyArray<readonly [string, string]>): Buffer {
  const { out, hashes, positions, end } = writeRecords(entries, { gap: HEADER, position: HEADER, room: 16 * entries.length });
  const tableSizes = new Uint32Array(256);
  for (const h of hashes) tableSizes[h & 0xff]! += 2;
  // Where each table starts, in words from the first; a slot is a (hash, position) pair of words.
  const tableStart = new Uint32Array(256);
  let words = 0;
  for (let t = 0; t < 256; words += tableSizes[t]! * 2, t++) {
    tableStart[t] = words;
    out.writeUInt32LE(end + words * 4, t * 8);
    out.writeUInt32LE(tableSizes[t]!, t * 8 + 4);
  }
  // Built as words, copied once as bytes.
  const slots = new Uint32Array(words);
  for (let i = 0; i < hashes.length; i++) place(slots, tableStart[hashes[i]! & 0xff]!, tableSizes[hashes[i]! & 0xff]!, hashes[i]!, positions[i]!);
  littleEndian(slots).copy(out, end);
  return out;
}

/**
 * `old` with `entries` (keys it lacks) added after its records: the bytes encodeCdb gives for
 * old's entries followed by these, as parts to write one after the other. Adding records changes
 * only the tables their hashes pick; the others keep every slot (record positions do not move)
 * and are old's own bytes, not copies. So adding one mailbox to 10 000 reads the header and one
 * table of some 80 slots, and writes a new header, the new record and that table between ranges
 * of `old`. null when `old` is not a cdb file this module could have written.
 */
export function appendCdb(old: ByteSource, entries: ReadonlyArray<readonly [string, string]>): FilePart[] | null {
  if (old.length < HEADER) return null;
  // The header as words: Buffer's readUInt32LE, run cold, cost ~1 µs a call (~1 ms a header).
  const header = wordsOf(old.read(0, HEADER));
  const recordsEnd = header[0]!;
  for (let t = 0, at = recordsEnd; t < 256; at += header[t * 2 + 1]! * 8, t++) {
    // Tables follow the records, one after the other, in order: anything else is not ours.
    if (header[t * 2] !== at || (t === 255 && at + header[t * 2 + 1]! * 8 !== old.length)) return null;
  }
  if (recordsEnd < HEADER) return null;
  const added = writeRecords(entries, { gap: 0, position: recordsEnd, room: 0 });
  const addedTo = new Map<number, number[]>();
  added.hashes.forEach((h, i) => {
    const table = addedTo.get(h & 0xff);
    if (table) table.push(i);
    else addedTo.set(h & 0xff, [i]);
  });
  const grownHeader = new Uint32Array(HEADER / 4);
  const body: FilePart[] = [old.part(HEADER, recordsEnd), added.out];
  // Unchanged tables lie end to end in both files: each run of them is one slice of old.
  let runFrom = recordsEnd;
  let at = recordsEnd + added.out.length;
  for (let t = 0; t < 256; t++) {
    const from = header[t * 2]!;
    const size = header[t * 2 + 1]!;
    const adding = addedTo.get(t) ?? [];
    const grown = size + 2 * adding.length;
    grownHeader[t * 2] = at;
    grownHeader[t * 2 + 1] = grown;
    at += grown * 8;
    if (adding.length === 0) continue;
    body.push(old.part(runFrom, from));
    runFrom = from + size * 8;
    // This table anew, in record order as tinycdb fills it: its old pairs by position, then the new.
    const pairs = wordsOf(old.read(from, from + size * 8));
    const kept = [...pairs.keys()].filter((w) => w % 2 === 1 && pairs[w] !== 0).sort((x, y) => pairs[x]! - pairs[y]!);
    const slots = new Uint32Array(grown * 2);
    for (const w of kept) place(slots, 0, grown, pairs[w - 1]!, pairs[w]!);
    for (const i of adding) place(slots, 0, grown, added.hashes[i]!, added.positions[i]!);
    body.push(littleEndian(slots));
  }
  body.push(old.part(runFrom, old.length));
  return [littleEndian(grownHeader), ...body];
}

/** (hash, position) into the table of `size` slots at word `base`: linear probing from the hash's slot; 0 marks a free slot (no record sits at position 0, the header does). */
function place(slots: Uint32Array, base: number, size: number, hash: number, position: number): void {
  let slot = (hash >>> 8) % size;
  while (slots[base + slot * 2 + 1] !== 0) slot = (slot + 1) % size;
  slots[base + slot * 2] = hash;
  slots[base + slot * 2 + 1] = position;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The words' bytes in cdb's order, little-endian (swapped on a big-endian router: MIPS). */
function littleEndian(words: Uint32Array): Buffer {
  const bytes = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  return LITTLE_ENDIAN_HOST ? bytes : Buffer.from(bytes).swap32();
}

/** Little-endian bytes (a multiple of 4 long) as words. */
function wordsOf(bytes: Buffer): Uint32Array {
  const words = new Uint32Array(bytes.length / 4);
  const view = Buffer.from(words.buffer);
  bytes.copy(view);
  if (!LITTLE_ENDIAN_HOST) view.swap32();
  return words;
}

/** cdb's hash of the bytes: h = ((h << 5) + h) ^ byte, from 5381, in 32 bits. */
function cdbHash(bytes: Buffer, from: number, to: number): number {
  let h = 5381;
  for (let b = from; b < to; b++) h = (((h << 5) + h) ^ bytes[b]!) >>> 0;
  return h;
}

/**
 * `entries`' records, after `gap` bytes left free, in a buffer with `room` bytes more after them
 * (for the hash tables); the first record lies at file position `position`. Hashes, positions
 * (in the file) and where the records end (in the buffer): of `entries`.
 */
function writeRecords(entries: ReadonlyArray<readonly [string, string]>, { gap, position, room }: { gap: number; position: number; room: number }) {
  const hashes = new Uint32Array(entries.length);
  const positions = new Uint32Array(entries.length);
  let recordBytes = 0;
  for (const [k, v] of entries) recordBytes += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  const out = Buffer.alloc(gap + recordBytes + room);
  let pos = gap;
  entries.forEach(([key, value], i) => {
    const keyLength = out.write(key, pos + 8);
    const valueLength = out.write(value, pos + 8 + keyLength);
    out.writeUInt32LE(keyLength, pos);
    out.writeUInt32LE(valueLength, pos + 4);
    hashes[i] = cdbHash(out, pos + 8, pos + 8 + keyLength);
    positions[i] = position + pos - gap;
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
