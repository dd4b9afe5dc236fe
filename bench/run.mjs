// npm run bench: one markdown table of figures, each a ratio against a baseline measured in the
// same run, because machines are noisy and only the ratio travels between them. Absolute
// medians are shown too. Needs root (postmap, chown) and the built rpcd/ bundle.
//
// Method, per figure: 3 warm-up runs of each side, then BENCH_RUNS pairs (default 30) of one run
// of each side, one after the other, the baseline first in every other pair: on this kind of
// machine the first run of two in a row was ~3% quicker than the second. Figure = the median of
// the pairs' ratios (subject / baseline): the two runs of a pair share the machine's state of the
// moment, which drifts by ±15% over a run (the ratio of each side's median took two identical
// commands to 1.11×; the paired median, 1.07× at worst). The first figure, `node -e 0` against
// itself, shows what is left of that noise in the run. Each side's median is shown too.
// Every command is spawned from an argv array (never a shell).
//
// Add a figure by adding an entry to FIGURES below:
//   { name, kind: 'time' | 'rss', requires?: [paths], setup?(ctx), baseline(ctx, i), subject(ctx, i),
//     check?(result), teardown?(ctx), goal, goalProposed?, goalText?, runs?, warmup? }
// (runs/warmup: fewer runs for figures that move a lot of data)
// or, for a figure that is a count or a size rather than a ratio (the LuCI page's budgets):
//   { name, kind: 'value', requires?: [paths], value: async (ctx) => ({ value, text, baseline? }),
//     goal, goalText? }   (ok when value ≤ goal, null for a figure shown for scale; so is `baseline`)
// baseline/subject return { argv, input? } for run i (i < 0 during warm-up), so a run can use a
// fresh argument (e.g. a new address each `user add`).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const NETNS = join(REPO, 'test', 'support', 'netns.sh');
const MAILCTL = join(REPO, 'rpcd', 'mailctl');
const PLUGIN = join(REPO, 'rpcd', 'luci.mailserver');
const ADD_FLOOR = join(REPO, 'bench', 'add-floor.cjs');
const NODE = process.execPath;
const RUNS = positiveInt(process.env.BENCH_RUNS, 30);
const RSS_RUNS = positiveInt(process.env.BENCH_RSS_RUNS, Math.min(RUNS, 10));
const USERS = positiveInt(process.env.BENCH_USERS, 10_000);
/** BENCH_ONLY=word: only the figures whose name contains it (case-insensitive). */
const ONLY = (process.env.BENCH_ONLY ?? '').toLowerCase();
const WARMUP = 3;
const DOMAIN = 'example.com';
const PASSWORD = 'bench-password-1';
const GNU_TIME = '/usr/bin/time';

const NODE_E0 = () => ({ argv: [NODE, '-e', '0'] });
// Variables that make every Node process do work before it runs a line: Node parses each
// certificate NODE_EXTRA_CA_CERTS names as it starts (a CA bundle of ~140: ~70 ms on this kind of
// machine, twice Node's own start). A router sets neither, and rpcd starts plugins with PATH
// alone; a baseline inflated by them flatters every cold ratio (`user add` read 1.36× with the
// bundle, 2.09× without). So every run gets this environment without them.
const STARTUP_WORK = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];
const RUN_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !STARTUP_WORK.includes(name)));
const dropped = STARTUP_WORK.filter((name) => process.env[name] !== undefined);
const MAIL_MIB = positiveInt(process.env.BENCH_MAIL_MIB, 1024);
const mailSize = `${MAIL_MIB >= 1024 ? `${MAIL_MIB / 1024} GiB` : `${MAIL_MIB} MiB`} of mail`;
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

/**
 * The LuCI page in a browser, once per run: bench/ui-figures.ts inside the test network namespace
 * (nothing leaves the machine), on this sandbox's USERS mailboxes.
 */
function uiFigures(ctx) {
  if (ctx.ui) return ctx.ui;
  if (!existsSync(CHROMIUM)) throw new Skip(`needs ${CHROMIUM} (apt-get install chromium)`);
  const r = spawnSync('bash', [NETNS, NODE, '--import', 'tsx', join(REPO, 'bench', 'ui-figures.ts'), ctx.root], {
    cwd: REPO,
    env: { ...ctx.env, PATH: `${ctx.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` },
    encoding: 'utf8',
    timeout: 300_000,
  });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`bench/ui-figures.ts failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().slice(-800)}`);
  ctx.ui = JSON.parse(line);
  return ctx.ui;
}

// --- the warm worker (src-rpc/rpcd/worker.ts) ----------------------------------------------------

const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function workerPid(ctx) {
  let pid;
  try {
    pid = Number(readFileSync(join(ctx.root, 'var/run/mailserver/worker/pid'), 'utf8').trim());
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z' ? null : pid;
  } catch {
    return null;
  }
}

function stopWorker(ctx) {
  const pid = workerPid(ctx);
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 200 && workerPid(ctx) === pid; i++) sleepSync(50);
}

/** main.worker_idle in the sandbox's UCI; a running worker is stopped (cold figures run without it). */
function setWorkerIdle(ctx, seconds, { stop = true } = {}) {
  writeFileSync(join(ctx.root, 'etc', 'config', 'mailserver'), uciConfig(seconds));
  if (stop) stopWorker(ctx);
}

/** Worker on: one cold call starts it; wait until it has opened its door. */
function warmUp(ctx) {
  setWorkerIdle(ctx, 600);
  mustRun(ctx, [PLUGIN, 'call', 'status'], '{}');
  for (let i = 0; i < 1200 && !workerPid(ctx); i++) sleepSync(50);
  ctx.workerPid = workerPid(ctx);
  if (!ctx.workerPid) throw new Error('the warm worker did not start');
}

/** A warm run must be answered by the worker the figure started (not a cold fallback that restarted it). */
const sameWorker = (ctx) => workerPid(ctx) === ctx.workerPid;

/** A sh plugin printing `reply`, called like ours (stdin read, then the reply): the floor of any plugin. */
function shPlugin(ctx, name, reply) {
  const script = join(ctx.root, 'bench', `${name}.sh`);
  writeFileSync(script, `#!/bin/sh\ncat >/dev/null\nprintf '%s' '${reply.replace(/'/g, `'\\''`)}'\n`, { mode: 0o755 });
  return script;
}

/** Copies of the store's users file and maps for bench/add-floor.cjs, made afresh. */
function floorFiles(ctx) {
  ctx.floorDir = join(ctx.root, 'bench', 'add-floor');
  ctx.floorAdds ??= 0;
  rmSync(ctx.floorDir, { recursive: true, force: true });
  mkdirSync(ctx.floorDir, { recursive: true });
  for (const name of ['users', 'vmailbox', 'vmailbox.cdb']) copyFileSync(join(ctx.root, 'srv', 'mailserver', 'config', name), join(ctx.floorDir, name));
}

/**
 * Our sh front (a copy, so its LIB is here) running a Node script that reads its stdin and prints
 * `reply`: what any Node plugin behind this front pays before it does anything.
 */
function floorPlugin(ctx, reply) {
  const dir = join(ctx.root, 'bench', 'floor-plugin');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(join(dir, 'luci.mailserver.js'), `const fs = require('node:fs');\nfs.readFileSync(0);\nfs.writeSync(1, ${JSON.stringify(reply)});\n`);
  copyFileSync(PLUGIN, join(dir, 'luci.mailserver'));
  return join(dir, 'luci.mailserver');
}

/** A second sandbox with 100 000 mailboxes, made once when a figure needs it. */
function bigSandbox(ctx) {
  if (!ctx.big) {
    ctx.big = makeSandbox();
    populate(ctx.big, 100_000);
  }
  return ctx.big;
}

const importList = (n, tag) => Array.from({ length: n }, (_, i) => `import-${tag}-${String(i).padStart(4, '0')}@${DOMAIN},bench-import-pass-${i},1G`).join('\n');
let importRuns = 0;
const users = `${USERS.toLocaleString('en-US').replace(/,/g, ' ')} users`;

/** The figures. Goals are "subject ≤ goal × baseline". */
const FIGURES = [
  // What this run's noise alone makes of two identical commands: read the other ratios against it.
  {
    name: 'noise floor: node -e 0 vs node -e 0',
    kind: 'time',
    baseline: NODE_E0,
    subject: NODE_E0,
    goal: null,
  },
  {
    name: `mailctl user list --json, ${users}`,
    kind: 'time',
    requires: [MAILCTL],
    baseline: NODE_E0,
    subject: (ctx) => ({ argv: [MAILCTL, 'user', 'list', '--json'] }),
    check: (r) => r.stdout.startsWith('{"total":'),
    goal: 1.5,
  },
  {
    name: `mailctl user add --password-stdin, ${users}`,
    kind: 'time',
    requires: [MAILCTL],
    baseline: NODE_E0,
    subject: (ctx) => ({ argv: [MAILCTL, 'user', 'add', ctx.freshAddress(), '--password-stdin'], input: `${PASSWORD}\n` }),
    teardown: (ctx) => ctx.restoreUsers(), // back to exactly USERS mailboxes for the figures after this one
    goal: 1.5,
  },
  // Floors (shown for scale): the least any implementation pays, measured beside our figures, so a
  // goal can be read against what is left above it.
  {
    name: `floor: a bare Node script doing only the durable file work of one user add, ${users} (bench/add-floor.cjs)`,
    kind: 'time',
    setup: (ctx) => floorFiles(ctx),
    baseline: NODE_E0,
    subject: (ctx) => ({ argv: [NODE, ADD_FLOOR, ctx.floorDir, String(++ctx.floorAdds)] }),
    goal: null,
  },
  {
    name: `peak RSS: mailctl user list --json, ${users}`,
    kind: 'rss',
    requires: [MAILCTL],
    baseline: NODE_E0,
    subject: (ctx) => ({ argv: [MAILCTL, 'user', 'list', '--json'] }),
    goal: 1.5,
    goalProposed: true,
  },
  // rpcd plugin (exec-plugin convention: `list` prints the signatures, `call <method>` reads a JSON object on stdin).
  {
    name: 'luci.mailserver list vs sh printing the same JSON',
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => {
      const r = mustRun(ctx, [PLUGIN, 'list']);
      JSON.parse(r.stdout);
      const script = join(ctx.root, 'bench', 'list.sh');
      mkdirSync(join(ctx.root, 'bench'), { recursive: true });
      writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' '${r.stdout.trim().replace(/'/g, `'\\''`)}'\n`, { mode: 0o755 });
      ctx.listScript = script;
    },
    baseline: (ctx) => ({ argv: [ctx.listScript] }),
    subject: () => ({ argv: [PLUGIN, 'list'] }),
    goal: 2,
  },
  {
    name: `luci.mailserver call status, ${users}`,
    kind: 'time',
    requires: [PLUGIN],
    baseline: NODE_E0,
    subject: () => ({ argv: [PLUGIN, 'call', 'status'], input: '{}' }),
    check: (r) => r.stdout.trimStart().startsWith('{') && !r.stdout.includes('"error"'),
    goal: 1.25,
  },
  {
    name: `luci.mailserver call user_list, ${users}`,
    kind: 'time',
    requires: [PLUGIN],
    baseline: NODE_E0,
    subject: () => ({ argv: [PLUGIN, 'call', 'user_list'], input: '{}' }),
    check: (r) => r.stdout.includes('"total"'),
    goal: 1.25,
  },
  {
    name: 'floor: a Node plugin that only reads stdin and prints the status reply, behind the same sh front',
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => (ctx.floorPlugin ??= floorPlugin(ctx, mustRun(ctx, [PLUGIN, 'call', 'status'], '{}').stdout)),
    baseline: NODE_E0,
    subject: (ctx) => ({ argv: [ctx.floorPlugin, 'call', 'status'], input: '{}' }),
    check: (r) => r.stdout.trimStart().startsWith('{') && !r.stdout.includes('"error"'),
    goal: null,
  },
  {
    name: 'floor: luci.mailserver call of an unknown method (sh front, bundle from its code cache, dispatch; no work)',
    kind: 'time',
    requires: [PLUGIN],
    baseline: NODE_E0,
    subject: () => ({ argv: [PLUGIN, 'call', 'no_such_method'], input: '{}' }),
    check: (r) => r.stdout.includes('"unknown_method"'),
    goal: null,
  },
  {
    name: `peak RSS: luci.mailserver call user_list, ${users}`,
    kind: 'rss',
    requires: [PLUGIN],
    baseline: NODE_E0,
    subject: () => ({ argv: [PLUGIN, 'call', 'user_list'], input: '{}' }),
    goal: 1.5,
    goalProposed: true,
  },
  // Backups (mesh backup): age-encrypted tar with per-file SHA-256 against `tar czf` of the same
  // mail; few runs, each moves the whole mail store.
  {
    name: `mailctl mesh backup (age, SHA-256 manifest) vs tar czf, ${mailSize}`,
    kind: 'time',
    runs: 2,
    warmup: 0,
    requires: [MAILCTL],
    setup: (ctx) => populateMail(ctx),
    baseline: (ctx) => ({ argv: ['tar', 'czf', ctx.freshBackupPath(), '-C', join(ctx.root, 'srv', 'mailserver'), 'mail'] }),
    subject: (ctx) => ({ argv: [MAILCTL, 'mesh', 'backup', '--output', ctx.freshBackupPath()] }),
    teardown: (ctx) => ctx.freshBackupPath(),
    goal: 1.25,
    goalText: '≤ 1.25× (throughput ≥ 0.8×)',
  },
  {
    name: `peak RSS: mailctl mesh backup, ${mailSize}`,
    kind: 'value',
    requires: [MAILCTL],
    value: (ctx) => {
      populateMail(ctx);
      if (!ctx.gnuTime) throw new Skip(`needs GNU ${GNU_TIME}`);
      const kib = rssRun(ctx, { argv: [MAILCTL, 'mesh', 'backup', '--output', ctx.freshBackupPath()] });
      ctx.freshBackupPath();
      return { value: kib / 1024, text: fmtKiB(kib), baseline: `${mailSize} streamed` };
    },
    goal: 100,
    goalText: '≤ 100 MiB',
  },
  // Mailboxes by the thousand: import vs one cold `user add` per mailbox, then 100 000 mailboxes.
  {
    name: `mailctl user import (1 000 mailboxes, passwords hashed): per mailbox vs cold mailctl user add, ${users}`,
    kind: 'value',
    requires: [MAILCTL],
    value: (ctx) => {
      const addOnce = () => timeRun(ctx, { argv: [MAILCTL, 'user', 'add', ctx.freshAddress(), '--password-stdin'], input: `${PASSWORD}\n` });
      // Adds before and after each import (alternating); an import is long, so BENCH_IMPORT_RUNS (1).
      const adds = [addOnce(), addOnce(), addOnce()];
      const imports = [];
      const runs = positiveInt(process.env.BENCH_IMPORT_RUNS, 1);
      for (let i = 0; i < runs; i++) {
        imports.push(timeRun(ctx, { argv: [MAILCTL, 'user', 'import', '--password-stdin'], input: importList(1000, ++importRuns), timeoutMs: 1_800_000 }) / 1000);
        ctx.restoreUsers();
        adds.push(addOnce(), addOnce(), addOnce());
      }
      const perMailbox = median(imports);
      const add = median(adds);
      return { value: perMailbox / add, text: `${perMailbox.toFixed(1)} ms per mailbox (${(perMailbox).toFixed(1)} s per 1 000) = ${(perMailbox / add).toFixed(3)}×`, baseline: `cold user add ${add.toFixed(1)} ms (${adds.length} runs; ${runs} imports)` };
    },
    goal: 0.1,
    goalText: '≤ 0.1× (10× faster per mailbox)',
  },
  {
    name: 'luci.mailserver call user_list {"limit":25}: 100 000 vs 10 000 users (cold)',
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => bigSandbox(ctx),
    baseline: () => ({ argv: [PLUGIN, 'call', 'user_list'], input: '{"limit":25}' }),
    subject: (ctx) => ({ argv: [PLUGIN, 'call', 'user_list'], input: '{"limit":25}', env: ctx.big.env }),
    check: (r) => r.stdout.includes('"total":100000'),
    goal: 2,
  },
  {
    name: 'luci.mailserver call overview: 100 000 vs 10 000 users (cold)',
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => bigSandbox(ctx),
    baseline: () => ({ argv: [PLUGIN, 'call', 'overview'], input: '{}' }),
    subject: (ctx) => ({ argv: [PLUGIN, 'call', 'overview'], input: '{}', env: ctx.big.env }),
    check: (r) => r.stdout.trimStart().startsWith('{') && !r.stdout.startsWith('{"error"'),
    goal: 2,
  },
  {
    name: 'mailctl user add: 100 000 vs 10 000 users (cold)',
    kind: 'time',
    requires: [MAILCTL],
    setup: (ctx) => bigSandbox(ctx),
    baseline: (ctx) => ({ argv: [MAILCTL, 'user', 'add', ctx.freshAddress(), '--password-stdin'], input: `${PASSWORD}\n` }),
    subject: (ctx) => ({ argv: [MAILCTL, 'user', 'add', ctx.big.freshAddress(), '--password-stdin'], input: `${PASSWORD}\n`, env: ctx.big.env }),
    teardown: (ctx) => ctx.restoreUsers(),
    goal: null,
  },
  {
    name: 'mailctl user import (1 000 mailboxes), per mailbox: 100 000 vs 10 000 users',
    kind: 'value',
    requires: [MAILCTL],
    value: (ctx) => {
      const big = bigSandbox(ctx);
      const importInto = (box) => {
        const ms = timeRun(ctx, { argv: [MAILCTL, 'user', 'import', '--password-stdin'], input: importList(1000, ++importRuns), env: box.env, timeoutMs: 1_800_000 });
        box.restoreUsers();
        return ms / 1000;
      };
      // BENCH_IMPORT_RUNS (1) imports into each sandbox, the order alternating, as the pairs above.
      const atSmall = [];
      const atBig = [];
      for (let i = 0; i < positiveInt(process.env.BENCH_IMPORT_RUNS, 1); i++) {
        if (i % 2) atBig.push(importInto(big));
        atSmall.push(importInto(ctx));
        if (i % 2 === 0) atBig.push(importInto(big));
      }
      const [small, large] = [median(atSmall), median(atBig)];
      return { value: large / small, text: `${large.toFixed(1)} ms per mailbox = ${(large / small).toFixed(2)}×`, baseline: `${small.toFixed(1)} ms per mailbox at 10 000 (${atSmall.length} imports each)` };
    },
    goal: null,
  },
  // The warm path: the worker answers; the front stays a sh script.
  {
    name: `warm: luci.mailserver call user_list {"limit":25}, ${users}, vs a sh plugin printing the same reply`,
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => {
      warmUp(ctx);
      ctx.listSh = shPlugin(ctx, 'user-list', mustRun(ctx, [PLUGIN, 'call', 'user_list'], '{"limit":25}').stdout);
    },
    baseline: (ctx) => ({ argv: [ctx.listSh, 'call', 'user_list'], input: '{"limit":25}' }),
    subject: () => ({ argv: [PLUGIN, 'call', 'user_list'], input: '{"limit":25}' }),
    check: (r, ctx) => r.stdout.includes(`"total":${USERS}`) && sameWorker(ctx),
    goal: 3,
  },
  {
    name: `warm: luci.mailserver call status, ${users}, vs a sh plugin printing the same reply`,
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => {
      warmUp(ctx);
      ctx.statusSh = shPlugin(ctx, 'status', mustRun(ctx, [PLUGIN, 'call', 'status'], '{}').stdout);
    },
    baseline: (ctx) => ({ argv: [ctx.statusSh, 'call', 'status'], input: '{}' }),
    subject: () => ({ argv: [PLUGIN, 'call', 'status'], input: '{}' }),
    check: (r, ctx) => !r.stdout.includes('"error"') && sameWorker(ctx),
    goal: 3,
  },
  {
    name: `warm: luci.mailserver call user_add, ${users}`,
    kind: 'time',
    requires: [PLUGIN],
    setup: (ctx) => warmUp(ctx),
    baseline: NODE_E0,
    subject: (ctx) => ({ argv: [PLUGIN, 'call', 'user_add'], input: JSON.stringify({ email: ctx.freshAddress(), password: PASSWORD }) }),
    check: (r, ctx) => r.stdout.startsWith('{"email"') && sameWorker(ctx),
    teardown: (ctx) => ctx.restoreUsers(),
    goal: 0.5,
  },
  {
    name: `floor, warm: the durable file work of one user add in a running process, ${users} (bench/add-floor.cjs --repeat)`,
    kind: 'value',
    value: (ctx) => {
      floorFiles(ctx);
      const ms = Number(mustRun(ctx, [NODE, ADD_FLOOR, ctx.floorDir, 'warm', '--repeat', String(RUNS)]).stdout);
      const node = median(Array.from({ length: 10 }, () => timeRun(ctx, NODE_E0())));
      return { value: ms / node, text: `${ms.toFixed(1)} ms = ${(ms / node).toFixed(2)}× node -e 0`, baseline: `node -e 0: ${node.toFixed(1)} ms (10 runs)` };
    },
    goal: null,
  },
  {
    name: `warm worker: resident memory (VmRSS) 2 s after the calls above, ${users}`,
    kind: 'value',
    requires: [PLUGIN],
    value: (ctx) => {
      if (!sameWorker(ctx)) warmUp(ctx);
      for (const [m, input] of [['user_list', '{"limit":25}'], ['overview', '{}'], ['status', '{}'], ['user_list', '{"limit":1000}']]) mustRun(ctx, [PLUGIN, 'call', m], input);
      sleepSync(2000); // the worker collects garbage 1 s after a burst of calls
      const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ctx.workerPid}/status`, 'utf8'))?.[1]);
      return { value: kib / 1024, text: `${(kib / 1024).toFixed(1)} MiB` };
    },
    goal: 60,
    goalText: '≤ 60 MiB',
  },
  {
    name: 'warm worker: processes left after main.worker_idle (2 s) without calls',
    kind: 'value',
    requires: [PLUGIN],
    value: (ctx) => {
      if (!sameWorker(ctx)) warmUp(ctx);
      setWorkerIdle(ctx, 2, { stop: false });
      mustRun(ctx, [PLUGIN, 'call', 'status'], '{}'); // the worker reads worker_idle after each call
      const t0 = Date.now();
      while (workerPid(ctx) && Date.now() - t0 < 60_000) sleepSync(100);
      const left = workerPid(ctx) ? 1 : 0;
      setWorkerIdle(ctx, 0);
      return { value: left, text: left ? 'still running after 60 s' : `none (gone ${((Date.now() - t0) / 1000).toFixed(1)} s after the last call)` };
    },
    goal: 0,
    goalText: '0',
  },
  // The LuCI page (src-ui): budgets in absolute numbers, not ratios.
  {
    name: 'LuCI page: app.js + app.css, gzipped',
    kind: 'value',
    requires: [join(REPO, 'node_modules', 'vite')],
    value: async () => {
      const { buildUi } = await import('../src-ui/build.mjs');
      const s = await buildUi();
      return { value: s.gzip / 1024, text: kib(s.gzip), baseline: `${kib(s.bytes)} as served` };
    },
    goal: 25,
    goalText: '≤ 25 KiB',
  },
  {
    name: 'LuCI page: calls when it opens on the Overview',
    kind: 'value',
    requires: [PLUGIN, join(REPO, 'node_modules', 'playwright-core')],
    value: (ctx) => {
      const calls = uiFigures(ctx).overviewCalls;
      return { value: calls.length, text: `${calls.length} (${calls.join(', ')})` };
    },
    goal: 1,
    goalText: '1 (overview)',
  },
  {
    name: `LuCI page: calls when it opens on Mailboxes, ${users}`,
    kind: 'value',
    requires: [PLUGIN, join(REPO, 'node_modules', 'playwright-core')],
    value: (ctx) => {
      const calls = uiFigures(ctx).mailboxesCalls;
      return { value: calls.length, text: `${calls.length} (${calls.join(', ')})` };
    },
    goal: 2,
    goalText: '≤ 2',
  },
  {
    name: `LuCI page: bytes of the first Mailboxes page (user_list reply), ${users}`,
    kind: 'value',
    requires: [PLUGIN, join(REPO, 'node_modules', 'playwright-core')],
    value: (ctx) => {
      const { firstPageBytes, fullListBytes } = uiFigures(ctx);
      if (firstPageBytes === null) throw new Error('the Mailboxes tab made no user_list call');
      return { value: firstPageBytes, text: `${firstPageBytes} B`, baseline: `whole list: ${kib(fullListBytes)}` };
    },
    goal: 4096,
    goalText: '≤ 4 KiB (one page, not the list) †',
    goalProposed: true,
  },
];

// ---------------------------------------------------------------------------------------------

function positiveInt(text, fallback) {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

/** Thrown when a figure cannot be measured on this machine: its row says why. */
class Skip extends Error {}

function exec(ctx, argv, input = '', env = ctx.env, timeoutMs = 900_000) {
  const [cmd, ...args] = argv;
  return spawnSync(cmd, args, { input, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: timeoutMs });
}

function mustRun(ctx, argv, input = '') {
  const r = exec(ctx, argv, input);
  if (r.error || r.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().slice(0, 500)}`);
  }
  return r;
}

/** Wall time of one run in ms (spawn to exit, output collected). */
function timeRun(ctx, { argv, input, env, timeoutMs }, check) {
  const t0 = process.hrtime.bigint();
  const r = exec(ctx, argv, input, env, timeoutMs);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || r.status !== 0 || (check && !check(r))) {
    throw new Error(`${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().slice(0, 500)}`);
  }
  return ms;
}

/**
 * Peak RSS of one run in KiB: GNU time's %M (the child's rusage) when present, otherwise a
 * preload in a Node child that writes process.resourceUsage().maxRSS at exit (Node programs only).
 */
function rssRun(ctx, { argv, input }) {
  const out = join(ctx.root, 'bench', `rss-${process.pid}`);
  let wrapped;
  if (ctx.gnuTime) wrapped = [GNU_TIME, '-f', '%M', '-o', out, ...argv];
  else {
    const script = argv[0] === NODE ? null : argv[0];
    if (script !== null && !readFileSync(script, 'utf8').startsWith('#!/usr/bin/env node')) throw new Skip(`needs GNU ${GNU_TIME} (not a Node script)`);
    wrapped = script === null ? [NODE, '-r', ctx.rssPreload, ...argv.slice(1)] : [NODE, '-r', ctx.rssPreload, ...argv];
  }
  rmSync(out, { force: true });
  const r = exec({ env: { ...ctx.env, BENCH_RSS_FILE: out } }, wrapped, input);
  if (r.error || r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || '').trim().slice(0, 500)}`);
  const kib = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
  if (!Number.isFinite(kib) || kib <= 0) throw new Error(`no RSS figure for ${argv.join(' ')}`);
  return kib;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function measure(ctx, f) {
  const one = f.kind === 'rss' ? (spec) => rssRun(ctx, spec) : (spec, check) => timeRun(ctx, spec, check);
  const runs = f.runs ? Math.min(f.runs, RUNS) : f.kind === 'rss' ? RSS_RUNS : RUNS;
  const check = f.check && ((r) => f.check(r, ctx));
  for (let i = 0; i < (f.warmup ?? WARMUP); i++) {
    one(f.baseline(ctx, -1 - i));
    one(f.subject(ctx, -1 - i), check);
  }
  const base = [];
  const subj = [];
  for (let i = 0; i < runs; i++) {
    const b = () => base.push(one(f.baseline(ctx, i)));
    const s = () => subj.push(one(f.subject(ctx, i), check));
    if (i % 2 === 0) (b(), s());
    else (s(), b());
  }
  return { subject: median(subj), baseline: median(base), ratio: median(subj.map((x, i) => x / base[i])), runs };
}

// --- the sandbox --------------------------------------------------------------------------------

/** The UCI file test/support/mailctl.ts writeConfig() writes: host runtime on 127.0.0.1. */
function uciConfig(workerIdle = 0) {
  const ports = { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993, pop3: 110, pop3s: 995, sieve: 4190 };
  return `
config mailserver 'main'
\toption enabled '1'
\toption hostname 'mail'
\toption domain '${DOMAIN}'
\toption postmaster 'postmaster'
\toption data_path '/srv/mailserver'
\toption runtime 'host'
\tlist listen '127.0.0.1'
\toption worker_idle '${workerIdle}'


config ports 'ports'
${Object.entries(ports).map(([k, v]) => `\toption ${k} '${v}'`).join('\n')}

config features 'features'
\toption quota '1'
\toption quota_default '0'

`;
}

function makeSandbox() {
  const root = mkdtempSync('/tmp/mailserver-bench-');
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'etc', 'config'), { recursive: true });
  mkdirSync(join(root, 'bench'), { recursive: true });
  writeFileSync(join(root, 'etc', 'config', 'mailserver'), uciConfig());
  const rssPreload = join(root, 'bench', 'maxrss.cjs');
  writeFileSync(rssPreload, "process.on('exit', () => require('fs').writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS) + '\\n'));\n");
  let added = 0;
  return {
    root,
    env: { ...RUN_ENV, MAILSERVER_ROOT: root },
    rssPreload,
    gnuTime: hasGnuTime(),
    freshAddress: () => `bench-add-${String(++added).padStart(4, '0')}@${DOMAIN}`,
  };
}

function hasGnuTime() {
  if (!existsSync(GNU_TIME)) return false;
  const r = spawnSync(GNU_TIME, ['-f', '%M', NODE, '-e', '0'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+$/.test(r.stderr.trim().split('\n').pop() ?? '');
}

/** USERS mailboxes written straight into the users file with one real hash, then one apply. */
function populate(ctx, count = USERS) {
  const t0 = Date.now();
  const usersFile = join(ctx.root, 'srv', 'mailserver', 'config', 'users');
  mustRun(ctx, [MAILCTL, 'user', 'add', `seed@${DOMAIN}`, '--password-stdin'], `${PASSWORD}\n`);
  const seed = readFileSync(usersFile, 'utf8').split('\n').find((l) => l.startsWith(`seed@${DOMAIN}:`));
  const hash = seed?.split(':')[1];
  if (!hash?.startsWith('{SHA512-CRYPT}$6$')) throw new Error(`unexpected users line from mailctl: ${seed}`);
  const { uid, gid, mode } = statSync(usersFile);
  const lines = [];
  for (let i = 0; i < count; i++) lines.push(`user${String(i).padStart(6, '0')}@${DOMAIN}:${hash}::::::\n`);
  writeFileSync(usersFile, lines.join(''));
  chownSync(usersFile, uid, gid);
  chmodSync(usersFile, mode & 0o7777);
  mustRun(ctx, [MAILCTL, 'apply']);
  const snapshot = readFileSync(usersFile);
  ctx.restoreUsers = () => {
    writeFileSync(usersFile, snapshot);
    mustRun(ctx, [MAILCTL, 'apply']);
  };
  const total = JSON.parse(mustRun(ctx, [MAILCTL, 'user', 'list', '--json', '--limit', '1']).stdout).total;
  if (total !== count) throw new Error(`sandbox has ${total} mailboxes, expected ${count}`);
  log(`sandbox ${ctx.root}: ${count} mailboxes and maps ready in ${Date.now() - t0} ms`);
}

/**
 * MAIL_MIB of mail in one mailbox, once: messages of 64 KiB, a text part and a base64 attachment
 * of random bytes (what real mail mostly is; gzip gains little on it, as on real mail).
 */
function populateMail(ctx) {
  if (ctx.mailReady) return;
  const dir = join(ctx.root, 'srv', 'mailserver', 'mail', DOMAIN, 'bench');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  const count = MAIL_MIB * 16;
  for (let i = 0; i < count; i++) {
    const text = `From: sender@example.net\nTo: bench@${DOMAIN}\nSubject: message ${i}\n\n${'Some words of a letter. '.repeat(80)}\n`;
    const attachment = randomBytes(45 * 1024).toString('base64').replace(/.{76}/g, '$&\n');
    const raw = `${text}${attachment}`.slice(0, 64 * 1024);
    writeFileSync(join(dir, 'cur', `${1_700_000_000 + i}.M${i}P1.bench,S=${raw.length}:2,S`), raw, { mode: 0o600 });
  }
  ctx.mailReady = true;
  let n = 0;
  const out = join(ctx.root, 'bench', 'backups');
  mkdirSync(out, { recursive: true });
  ctx.freshBackupPath = () => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    return join(out, `backup-${++n}`);
  };
  log(`sandbox ${ctx.root}: ${MAIL_MIB} MiB of mail written`);
}

// --- the table ------------------------------------------------------------------------------------

const fmtMs = (ms) => `${ms.toFixed(1)} ms`;
const fmtKiB = (k) => `${Math.round(k).toLocaleString('en-US').replace(/,/g, ' ')} KiB`;

function row(cells) {
  return `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
}

function goalText(f) {
  if (f.goalText) return f.goalText;
  if (f.goal === null) return '— (shown for scale)';
  return `≤ ${f.goal}×${f.goalProposed ? ' †' : ''}`;
}

async function main() {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: must run as root (mailctl apply runs postmap and chowns files)\n');
    process.exit(1);
  }
  if (!existsSync(MAILCTL)) {
    process.stderr.write('bench: rpcd/mailctl is not built: run `npm run bench` (node scripts/build.mjs first)\n');
    process.exit(1);
  }
  const started = Date.now();
  const ctx = makeSandbox();
  const cleanup = () => {
    for (const c of [ctx, ctx.big].filter(Boolean)) {
      stopWorker(c);
      rmSync(c.root, { recursive: true, force: true });
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
  const rows = [];
  let anyProposed = false;
  try {
    populate(ctx);
    for (const f of FIGURES.filter((x) => x.name.toLowerCase().includes(ONLY))) {
      anyProposed ||= !!f.goalProposed;
      const missing = (f.requires ?? []).filter((p) => !existsSync(p));
      if (missing.length) {
        log(`skip ${f.name}: ${missing.map((p) => p.slice(REPO.length)).join(', ')} not built yet`);
        rows.push([f.name, '—', '—', '—', goalText(f), 'skipped: not built yet']);
        continue;
      }
      const t0 = Date.now();
      if (f.kind === 'value') {
        try {
          const v = await f.value(ctx);
          rows.push([f.name, v.text, v.baseline ?? '—', '—', goalText(f), f.goal === null ? '—' : v.value <= f.goal ? 'yes' : 'NO']);
          log(`${f.name}: ${v.text} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        } catch (e) {
          if (!(e instanceof Skip)) throw e;
          log(`skip ${f.name}: ${e.message}`);
          rows.push([f.name, '—', '—', '—', goalText(f), `skipped: ${e.message}`]);
        }
        continue;
      }
      let m;
      try {
        f.setup?.(ctx);
        m = measure(ctx, f);
      } catch (e) {
        if (!(e instanceof Skip)) throw e;
        log(`skip ${f.name}: ${e.message}`);
        rows.push([f.name, '—', '—', '—', goalText(f), `skipped: ${e.message}`]);
        continue;
      } finally {
        f.teardown?.(ctx);
      }
      const fmt = f.kind === 'rss' ? fmtKiB : fmtMs;
      const ratio = m.ratio;
      rows.push([f.name, fmt(m.subject), fmt(m.baseline), `${ratio.toFixed(2)}×`, goalText(f), f.goal === null ? '—' : ratio <= f.goal ? 'yes' : 'NO']);
      log(`${f.name}: ${ratio.toFixed(2)}× (${m.runs} runs each, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    cleanup();
  }
  const baselineNote = `baseline: \`node -e 0\` unless named${dropped.length ? ` (runs without ${dropped.join(' and ')}, set here)` : ''}`;
  const out = [
    `Benchmark: ${RUNS} pairs of runs (${RSS_RUNS} for RSS) after ${WARMUP} warm-ups; ratio: the median of the pairs' ratios; medians of each side; ${baselineNote}; node ${process.version}; ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    '',
    row(['figure', 'subject median', 'baseline median', 'ratio', 'goal', 'ok?']),
    row(['---', '---:', '---:', '---:', '---', '---']),
    ...rows.map(row),
  ];
  if (anyProposed) out.push('', '† goal proposed by the bench, not yet agreed.');
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
