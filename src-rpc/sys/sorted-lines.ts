// A file of lines sorted by their key (the text before a separator), as the store's users file
// and the map sources are written: one key is looked up, or one line put in its place, by a
// binary search over byte offsets. Adding one line among 10 000 then costs a few dozen
// comparisons and reads of a KiB (sys/file-ranges: the file is never read whole), not a parse of
// every line.
import type { ByteSource, FilePart } from './file-ranges.ts';

const NEWLINE = 10;
/** Bytes read at a time while looking for a line's ends: most lines are shorter. */
const CHUNK = 1024;

/**
 * Where `key` belongs among the lines of `text`: the offset of the first line whose key is not
 * below it, and whether that line's key is `key`. Keys are compared as latin1 strings, the order
 * of JavaScript's `<` on ASCII. null when `text` does not end with a newline (not a whole file of
 * lines); the order itself is the writer's promise, not checked here.
 */
export function seekSorted(text: ByteSource, key: string, separator: string): { at: number; found: boolean } | null {
  if (text.length > 0 && text.read(text.length - 1, text.length)[0] !== NEWLINE) return null;
  const sep = separator.charCodeAt(0);
  const keyOf = (line: Buffer) => {
    const cut = line.indexOf(sep);
    return line.toString('latin1', 0, cut < 0 ? line.length : cut);
  };
  // Lines before `lo` have smaller keys; lines from `hi` on do not. Both are line starts.
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    // The line holding the middle byte; it starts at `lo` or after, as the byte before `lo` is a newline.
    const start = lineStart(text, (lo + hi) >>> 1);
    const line = lineAt(text, start);
    if (keyOf(line) >= key) hi = start;
    else lo = start + line.length + 1;
  }
  return { at: lo, found: lo < text.length && keyOf(lineAt(text, lo)) === key };
}

/** `text` with `line` (ending in a newline) put at the line start `at`, in parts (sys/fs FileData). */
export function insertLine(text: ByteSource, at: number, line: string): FilePart[] {
  return [text.part(0, at), Buffer.from(line, 'latin1'), text.part(at, text.length)];
}

/** The start of the line holding byte `at`: after the last newline before it. */
function lineStart(text: ByteSource, at: number): number {
  for (let end = at; end > 0; end -= CHUNK) {
    const from = Math.max(0, end - CHUNK);
    const newline = text.read(from, end).lastIndexOf(NEWLINE);
    if (newline >= 0) return from + newline + 1;
  }
  return 0;
}

/** The line starting at `start`, without its newline (the text ends with one). */
function lineAt(text: ByteSource, start: number): Buffer {
  const chunks: Buffer[] = [];
  for (let from = start; from < text.length; from += CHUNK) {
    const chunk = text.read(from, Math.min(text.length, from + CHUNK));
    const newline = chunk.indexOf(NEWLINE);
    if (newline >= 0) {
      chunks.push(chunk.subarray(0, newline));
      break;
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
