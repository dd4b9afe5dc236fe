// A job in the CLI's process (a backup streaming the mail store) keeps V8's young generation at
// the size it has (sys/memory.ts keepYoungGeneration, called by jobs/run.ts runForeground): the
// churn of short-lived objects that grows it to tens of MiB in a plain Node leaves it where it
// was. (This file is its own process.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { runInThisContext } from 'node:vm';
import { keepYoungGeneration } from '../../src-rpc/sys/memory.ts';

const MiB = 1024 * 1024;

/**
 * The young generation's size before and after objects that live a while and die (what streaming
 * chunks make), as JavaScript source: the same code runs in a plain Node and here.
 */
const CHURN = `(heapSpaces) => {
  const youngSize = () => heapSpaces().find((s) => s.space_name === 'new_space').space_size;
  const before = youngSize();
  const alive = new Array(50000);
  for (let i = 0; i < 3000000; i++) alive[i % alive.length] = { i, text: 'chunk ' + i };
  return [before, youngSize()];
}`;

test('the churn grows the young generation in a plain Node', () => {
  const r = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify((${CHURN})(require('node:v8').getHeapSpaceStatistics)))`], { encoding: 'utf8' });
  const [before, after] = JSON.parse(r.stdout) as [number, number];
  assert.ok(after >= before + 8 * MiB, `${before} → ${after}`);
});

test('kept at its size, the same churn leaves it there', () => {
  keepYoungGeneration();
  const churn = runInThisContext(CHURN) as (heapSpaces: typeof getHeapSpaceStatistics) => [number, number];
  const [before, after] = churn(getHeapSpaceStatistics);
  assert.ok(after <= Math.max(before * 2, 4 * MiB), `${before} → ${after}`);
});

test.run();
