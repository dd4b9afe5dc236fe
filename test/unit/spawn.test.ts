// Running a program and waiting for it: a child that exits without reading what we send it must
// give its exit code, not kill us (restic refusing a repository before it reads the password).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runAsync } from '../../src-rpc/sys/spawn.ts';

test('a child that ignores its input: its exit code, no EPIPE crash', async () => {
  const input = 'x'.repeat(1 << 20); // more than a pipe holds: the write must meet the closed pipe
  assert.is((await runAsync(['true'], { input })).code, 0);
  assert.is((await runAsync(['sh', '-c', 'exit 3'], { input })).code, 3);
});

test('a child that reads its input gets all of it', async () => {
  const r = await runAsync(['wc', '-c'], { input: 'y'.repeat(200_000) });
  assert.is(r.stdout.trim(), '200000');
});

test.run();
