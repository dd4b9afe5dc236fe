// npm run bench: one markdown table of figures, each a ratio against a baseline measured in the
// same run, because machines are noisy and only the ratio travels between them. Absolute
// medians are shown too. Needs root (postmap, chown) and the built rpcd/ bundle.
//
// Method, per figure: 3 warm-up runs of each side, then baseline and subject alternately
// BENCH_RUNS times (default 30); median of each side; figure = subject median / baseline median.
// Every command is spawned from an argv array (never a shell).
//
// Add a figure by adding an entry to FIGURES below:
//   { name, kind: 'time' | 'rss', requires?: [paths], setup?(ctx), baseline(ctx, i), subject(ctx, i),
//     check?(result), teardown?(ctx), goal, goalProposed? }
// baseline/subject return { argv, input? } for run i (i < 0 during warm-up), so a run can use a
// fresh argument (e.g. a new address each `user add`).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MAILCTL = join(REPO, 'rpcd', 'mailctl');
const PLUGIN = join(REPO, 'rpcd', 'luci.mailserver');
const NODE = process.execPath;
const RUNS = positiveInt(process.env.BENCH_RUNS, 30);
const RSS_RUNS = positiveInt(process.env.BENCH_RSS_RUNS, Math.min(RUNS, 10));
const USERS = positiveInt(process.env.BENCH_USERS, 10_000);
const WARMUP = 3;
const DOMAIN = 'example.com';
const PASSWORD = 'bench-password-1';
const GNU_TIME = '/usr/bin/time';

const NODE_E0 = () => ({ argv: [NODE, '-e', '0'] });
const users = `${USERS.toLocaleString('en-US').replace(/,/g, ' ')} users`;

/** The figures. Goals are "subject ≤ goal × baseline". */
const FIGURES = [
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
    goal: 1.5,
    goalProposed: true,
  },
  {
    name: `luci.mailserver call status, ${users}`,
    kind: 'time',
    requires: [PLUGIN],
    baseline: NODE_E0,
    subject: () => ({ argv: [PLUGIN, 'call', 'status'], input: '{}' }),
    check: (r) => r.stdout.trimStart().startsWith('{') && !r.stdout.includes('"error"'),
    goal: 1.5,
    goalProposed: true,
  },
  {
    name: `luci.mailserver call user_list, ${users}`,
    kind: 'time',
    requires: [PLUGIN],
    baseline: NODE_E0,
    subject: () => ({ argv: [PLUGIN, 'call', 'user_list'], input: '{}' }),
    check: (r) => r.stdout.includes('"total"'),
    goal: 1.5,
    goalProposed: true,
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

function exec(ctx, argv, input = '') {
  const [cmd, ...args] = argv;
  return spawnSync(cmd, args, { input, env: ctx.env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
}

function mustRun(ctx, argv, input = '') {
  const r = exec(ctx, argv, input);
  if (r.error || r.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().slice(0, 500)}`);
  }
  return r;
}

/** Wall time of one run in ms (spawn to exit, output collected). */
function timeRun(ctx, { argv, input }, check) {
  const t0 = process.hrtime.bigint();
  const r = exec(ctx, argv, input);
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
  const runs = f.kind === 'rss' ? RSS_RUNS : RUNS;
  for (let i = 0; i < WARMUP; i++) {
    one(f.baseline(ctx, -1 - i));
    one(f.subject(ctx, -1 - i), f.check);
  }
  const base = [];
  const subj = [];
  for (let i = 0; i < runs; i++) {
    base.push(one(f.baseline(ctx, i)));
    subj.push(one(f.subject(ctx, i), f.check));
  }
  return { subject: median(subj), baseline: median(base), runs };
}

// --- the sandbox --------------------------------------------------------------------------------

/** The UCI file test/support/mailctl.ts writeConfig() writes: host runtime on 127.0.0.1. */
function uciConfig() {
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
    env: { ...process.env, MAILSERVER_ROOT: root },
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
function populate(ctx) {
  const t0 = Date.now();
  const usersFile = join(ctx.root, 'srv', 'mailserver', 'config', 'users');
  mustRun(ctx, [MAILCTL, 'user', 'add', `seed@${DOMAIN}`, '--password-stdin'], `${PASSWORD}\n`);
  const seed = readFileSync(usersFile, 'utf8').split('\n').find((l) => l.startsWith(`seed@${DOMAIN}:`));
  const hash = seed?.split(':')[1];
  if (!hash?.startsWith('{SHA512-CRYPT}$6$')) throw new Error(`unexpected users line from mailctl: ${seed}`);
  const { uid, gid, mode } = statSync(usersFile);
  const lines = [];
  for (let i = 0; i < USERS; i++) lines.push(`user${String(i).padStart(5, '0')}@${DOMAIN}:${hash}::::::\n`);
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
  if (total !== USERS) throw new Error(`sandbox has ${total} mailboxes, expected ${USERS}`);
  log(`sandbox ${ctx.root}: ${USERS} mailboxes and maps ready in ${Date.now() - t0} ms`);
}

// --- the table ------------------------------------------------------------------------------------

const fmtMs = (ms) => `${ms.toFixed(1)} ms`;
const fmtKiB = (k) => `${Math.round(k).toLocaleString('en-US').replace(/,/g, ' ')} KiB`;

function row(cells) {
  return `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
}

function goalText(f) {
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
  const cleanup = () => rmSync(ctx.root, { recursive: true, force: true });
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
    for (const f of FIGURES) {
      anyProposed ||= !!f.goalProposed;
      const missing = (f.requires ?? []).filter((p) => !existsSync(p));
      if (missing.length) {
        log(`skip ${f.name}: ${missing.map((p) => p.slice(REPO.length)).join(', ')} not built yet`);
        rows.push([f.name, '—', '—', '—', goalText(f), 'skipped: not built yet']);
        continue;
      }
      const t0 = Date.now();
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
      const ratio = m.subject / m.baseline;
      rows.push([f.name, fmt(m.subject), fmt(m.baseline), `${ratio.toFixed(2)}×`, goalText(f), ratio <= f.goal ? 'yes' : 'NO']);
      log(`${f.name}: ${ratio.toFixed(2)}× (${m.runs} runs each, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    cleanup();
  }
  const baselineNote = 'baseline: `node -e 0` unless named';
  const out = [
    `Benchmark: ${RUNS} alternating runs per side (${RSS_RUNS} for RSS) after ${WARMUP} warm-ups, medians; ${baselineNote}; node ${process.version}; ${((Date.now() - started) / 1000).toFixed(0)} s.`,
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
