// The rpcd exec plugin `luci.mailserver`: `list` prints the signature, `call <method>` reads
// one JSON object from stdin and prints exactly one JSON object (errors included) on stdout.
// rpcd ignores the exit code, so every failure travels inside the object.
import { readSync } from 'node:fs';
import { methods } from '../api/table.ts';
import { callMethod, processStart, runJob } from '../api/dispatch.ts';
import { toErrorReply, MailError } from '../core/errors.ts';
import { describe, rpcdSignature } from '../api/describe.ts';
import { watchFailures } from '../ban/watch.ts';
import { serveWarm, startWorkerIfWanted } from './worker.ts';
import { sleepSync } from '../sys/spawn.ts';
import { writeStdout } from '../sys/stdout.ts';

/** ubus carries at most 1 MiB per message; rpcd's HTTP door 64 KiB per request. */
const MAX_INPUT = 1 << 20;

/** stdin up to EOF, or null once it passes the limit: a larger input is never read whole. */
function readLimited(fd: number, limit: number): string | null {
  const buffer = Buffer.alloc(limit + 1);
  let length = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, length, buffer.length - length, null);
    } catch (e) {
      // A non-blocking stdin with nothing yet: wait a moment rather than spin.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        sleepSync(5);
        continue;
      }
      if ((e as NodeJS.ErrnoException).code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    length += n;
    if (length > limit) return null;
  }
  return buffer.subarray(0, length).toString('utf8');
}

function readInput(fd: number): unknown {
  const text = readLimited(fd, MAX_INPUT);
  if (text === null) throw new MailError('invalid_argument', 'arguments larger than 1 MiB');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new MailError('invalid_argument', 'arguments are not valid JSON');
  }
}

/** A cold call arrived when this process started. */
async function reply(method: string | undefined, inputFd = 0, arrivedAt = processStart()): Promise<object> {
  try {
    if (!method) throw new MailError('unknown_method', 'no method given');
    const result = await callMethod(method, readInput(inputFd), { kind: 'rpcd', runner: [process.argv[1]!] }, arrivedAt);
    return Array.isArray(result) ? { items: result } : result;
  } catch (e) {
    return toErrorReply(e);
  }
}

const [command, method] = process.argv.slice(2);
if (command === 'list') {
  writeStdout(JSON.stringify(rpcdSignature(methods)));
} else if (command === 'describe') {
  writeStdout(JSON.stringify(describe(methods)));
} else if (command === 'call') {
  reply(method).then((r) => {
    writeStdout(JSON.stringify(r));
    startWorkerIfWanted(process.argv[1]!);
  });
} else if (command === 'worker') {
  void serveWarm(reply);
} else if (command === 'job-run' && method) {
  // The detached runner of a job started by `call`: its output goes to the job's log.
  runJob(method).catch((e) => {
    process.stderr.write(`job ${method}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
} else if (command === 'ban-watch') {
  // The ban watcher, when `start` came through rpcd (see cli/main.ts).
  watchFailures().catch((e) => {
    process.stderr.write(`ban-watch: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
} else {
  process.stderr.write('usage: luci.mailserver list | call <method>  (an rpcd exec plugin)\n');
  process.exitCode = 2;
}
