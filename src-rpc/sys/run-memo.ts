// What a pure function of a key gave the last process, kept in /var/run/mailserver (tmpfs on a
// router: gone at reboot) for the next one: a cold call is a fresh process and would otherwise
// work it out again each time.
//
// Only a value derived from the key alone belongs here, and the key names everything it is
// derived from (the input, and the code that derives it), so a value read back is the one the
// function would give. The file is written without fsync: what a crash leaves (nothing, a torn
// file, an older key) is not this key, or not JSON, and is worked out again.
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostPath } from './paths.ts';
import { ensureRunDir } from './run-dir.ts';

const memoFile = (name: string) => hostPath(`/var/run/mailserver/${name}.json`);

/** `derive()`, or what it gave the last process that asked for `name` with this very `key`. */
export function memoized<T>(name: string, key: string, derive: () => T): T {
  const kept = readMemo(name);
  if (kept && kept.key === key) return kept.value as T;
  const value = derive();
  writeMemo(name, key, value);
  return value;
}

function readMemo(name: string): { key: unknown; value: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(memoFile(name), 'utf8'));
  } catch {
    return undefined; // absent or torn: derived again
  }
}

function writeMemo(name: string, key: string, value: unknown): void {
  const file = memoFile(name);
  const temp = `${file}.tmp-${process.pid}`;
  try {
    ensureRunDir();
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ key, value }));
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch {
    // Not root, or a read-only root: the next process derives it again, which is only slower.
    rmSync(temp, { force: true });
  }
}
