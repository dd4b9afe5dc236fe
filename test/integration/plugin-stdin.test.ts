// The plugin reads its arguments from stdin with a limit: a ubus message is at most 1 MiB, so
// it stops at 1 MiB + 1 byte and answers at once, never waiting for the end of a larger (or
// endless) input nor holding it all in memory, cold or through the warm worker. NODE_BIN: the
// Node the plugin runs on (test/run.mjs runs this file again with the worker on, and on Node 18).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { writeConfig } from '../support/mailctl.ts';
import { stopWorker, waitForWorker } from '../support/worker.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PLUGIN = join(REPO, 'rpcd', 'luci.mailserver');
const NODE_BIN = process.env.NODE_BIN || process.execPath;
const box = makeSandbox('mailserver-stdin-');
test.after(async () => {
  await stopWorker(box.root);
  box.cleanup();
});
test.before(async () => {
  writeConfig(box.root);
  // Run again with the warm worker on (test/run.mjs): then every call below goes through it.
  if (Number(process.env.TEST_WORKER_IDLE ?? 0) > 0) {
    await callWith((_write, end) => end());
    await waitForWorker(box.root);
  }
});

/** Run `call status`, feeding stdin from `feed`; the reply once stdout closes, and the bytes the pipe took. */
function callWith(feed: (write: (chunk: Buffer) => boolean, end: () => void) => void): Promise<{ reply: Record<string, unknown>; written: number }> {
  const child = spawn(PLUGIN, ['call', 'status'], { env: { MAILSERVER_ROOT: box.root, PATH: `${dirname(NODE_BIN)}:${process.env.PATH}` } });
  let stdout = '';
  let written = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stdin.on('error', () => {}); // EPIPE once the plugin stops reading
  feed(
    (chunk) => {
      written += chunk.length;
      return child.stdin.write(chunk);
    },
    () => child.stdin.end(),
  );
  return new Promise((done) => child.stdout.on('close', () => done({ reply: JSON.parse(stdout) as Record<string, unknown>, written })));
}

test('an endless stdin is refused after 1 MiB + 1 byte, without waiting for its end', async () => {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let stop = false;
  const r = await callWith((write) => {
    // Keeps writing (never EOF) for as long as the plugin reads.
    const pump = () => {
      while (!stop && write(chunk));
      if (!stop) setTimeout(pump, 5);
    };
    pump();
  });
  stop = true;
  assert.is(r.reply.code, 'invalid_argument', JSON.stringify(r.reply));
  assert.match(String(r.reply.error), /1 MiB/);
});

test('1 MiB of arguments is still read and parsed', async () => {
  const text = JSON.stringify({ pad: 'x'.repeat(1024 * 1024 - 20) });
  const r = await callWith((write, end) => {
    write(Buffer.from(text));
    end();
  });
  // Read whole: the refusal is about the argument, not the size.
  assert.is(r.reply.code, 'invalid_argument', JSON.stringify(r.reply));
  assert.is(r.reply.field, 'pad', JSON.stringify(r.reply));
});

test.run();
