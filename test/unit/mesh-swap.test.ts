// Replaced data (restore-previous-*, restore-undone-*) is a whole copy of a node's mail each:
// only the newest KEPT_REPLACED of each kind stay after a swap.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEPT_REPLACED, keptFolderName, pruneReplaced, PREVIOUS_PREFIX, UNDONE_PREFIX } from '../../src-rpc/mesh/swap.ts';
import type { Layout } from '../../src-rpc/core/layout.ts';

test('pruneReplaced keeps the newest of each kind and nothing else is touched', () => {
  const dataPath = mkdtempSync(join(tmpdir(), 'mesh-swap-'));
  try {
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => keptFolderName(prefix, new Date(Date.UTC(2026, 0, 1 + i))));
    const previous = names(PREVIOUS_PREFIX, KEPT_REPLACED + 2);
    const undone = names(UNDONE_PREFIX, 2);
    for (const n of [...previous, ...undone, 'mail', 'config']) mkdirSync(join(dataPath, n));
    const removed = pruneReplaced({ dataPath } as Layout);
    assert.equal(removed.sort(), previous.slice(0, 2).map((n) => join(dataPath, n)).sort());
    assert.equal(readdirSync(dataPath).sort(), [...previous.slice(2), ...undone, 'mail', 'config'].sort());
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});

test.run();
