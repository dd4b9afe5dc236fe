// A file of lines sorted by their key (the text before a separator), as the store's users file
// and the map sources are written: one key is looked up, or one line put in its place, by a
// binary search over byte offsets. Adding one line among 10 000 then costs a few dozen
// comparisons and a copy, not a parse of every line.

const NEWLINE = 10;

/**
 * Where `key` belongs among the lines of `text`: the offset of the first line whose key is not
 * below it, and whether that line's key is `key`. Keys are compared as latin1 strings, the order
 * of JavaScript's `<` on ASCII. null when `text` does not end with a newline (not a whole file of
 * lines); the order itself is the writer's promise, not checked here.
 */
export function seekSorted(text: Buffer, key: string, separator: string): { at: number; found: boolean } | null {
  if (text.length > 0 && text[text.length - 1] !== NEWLINE) return null;
  const sep = separator.charCodeAt(0);
  const keyAt = (start: number) => {
    const end = text.indexOf(NEWLINE, start);
    const cut = text.indexOf(sep, start);
    return text.toString('latin1', start, cut < 0 || cut > end ? end : cut);
  };
  // Lines before `lo` have smaller keys; lines from `hi` on do not. Both are line starts.
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // The line holding `mid`; it starts at `lo` or after, as the byte before `lo` is a newline.
    const start = mid === 0 ? 0 : text.lastIndexOf(NEWLINE, mid - 1) + 1;
    if (keyAt(start) >= key) hi = start;
    else lo = text.indexOf(NEWLINE, start) + 1;
  }
  return { at: lo, found: lo < text.length && keyAt(lo) === key };
}

/** `text` with `line` (ending in a newline) put at the line start `at`, in parts (sys/fs FileData). */
export function insertLine(text: Buffer, at: number, line: string): Buffer[] {
  return [text.subarray(0, at), Buffer.from(line, 'latin1'), text.subarray(at)];
}
