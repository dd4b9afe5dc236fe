// A test double of procd's service manager (OpenWrt's PID 1): the `service` object of its ubus
// API (set / add / delete / list / event) over a Unix socket, with instance.c's and service.c's
// rules for starting, respawning, restarting and stopping instances, and trigger.c's
// config.change triggers. README.md says what is mimicked, from where, and what is not.
//
//   node --import tsx test/support/procd/procd.ts SOCKET LOGFILE
//
// Run it inside its own mount namespace (start.sh): the init scripts it runs see /etc and
// /usr/sbin as a router has them.
import { createServer, type Socket } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';

const [socketPath, logFile] = process.argv.slice(2);
if (!socketPath || !logFile) throw new Error('usage: procd.ts SOCKET LOGFILE');

/** The shell that runs init scripts: OpenWrt's /bin/sh is busybox ash. */
const INIT_SHELL = ['busybox', 'sh'];
/** rc.common of this double (the init script's `#!/bin/sh /etc/rc.common` line names /etc/rc.common). */
const RC_COMMON = '/etc/rc.common';

function log(line: string): void {
  appendFileSync(logFile!, `${new Date().toISOString()} ${line}\n`);
}

interface InstanceConfig {
  command?: string[];
  env?: Record<string, string>;
  respawn?: string[];
  term_timeout?: number;
  stdout?: boolean;
  stderr?: boolean;
  pidfile?: string;
  user?: string;
  group?: string;
  nice?: number;
  reload_signal?: number;
}

interface Instance {
  service: Service;
  name: string;
  config: InstanceConfig;
  proc: ChildProcess | null;
  /** proc.pending of instance.c: a child forked and not yet reaped. */
  pending: boolean;
  halt: boolean;
  restart: boolean;
  respawn: boolean;
  respawnThreshold: number;
  respawnTimeout: number;
  respawnRetry: number;
  respawnCount: number;
  termTimeout: number;
  startedAt: number;
  exitCode: number;
  timer: NodeJS.Timeout | null;
}

type Trigger = [string, unknown, number?];

interface Service {
  name: string;
  script?: string;
  instances: Map<string, Instance>;
  triggers: Trigger[];
  deleted: boolean;
}

const services = new Map<string, Service>();

// ---- instance.c ----

/** instance_init + instance_config_parse: term_timeout 5 s; respawn [threshold, timeout, retry], 3600 5 5 when absent. */
function newInstance(service: Service, name: string, config: InstanceConfig): Instance {
  const in_: Instance = {
    service, name, config, proc: null, pending: false, halt: false, restart: false,
    respawn: false, respawnThreshold: 0, respawnTimeout: 0, respawnRetry: 0, respawnCount: 0,
    termTimeout: 5, startedAt: 0, exitCode: 0, timer: null,
  };
  applyConfig(in_, config);
  return in_;
}

function applyConfig(in_: Instance, config: InstanceConfig): void {
  in_.config = config;
  if (config.term_timeout !== undefined) in_.termTimeout = config.term_timeout;
  if (config.respawn) {
    const vals = [3600, 5, 5];
    config.respawn.slice(0, 3).forEach((v, i) => (vals[i] = Number.parseInt(v, 10) || 0));
    in_.respawn = true;
    in_.respawnCount = 0;
    [in_.respawnThreshold, in_.respawnTimeout, in_.respawnRetry] = vals as [number, number, number];
  } else {
    in_.respawn = false;
  }
}

/** instance_config_changed: what makes an update restart a running instance (not term_timeout, not stdio). */
function configChanged(a: InstanceConfig, b: InstanceConfig): boolean {
  const key = (c: InstanceConfig) => JSON.stringify([c.command, c.env ?? {}, c.respawn ?? null, c.pidfile ?? null, c.user ?? null, c.group ?? null, c.nice ?? 0]);
  return key(a) !== key(b);
}

function setTimer(in_: Instance, seconds: number, fn: () => void): void {
  if (in_.timer) clearTimeout(in_.timer);
  in_.timer = setTimeout(() => ((in_.timer = null), fn()), seconds * 1000);
}

function cancelTimer(in_: Instance): void {
  if (in_.timer) clearTimeout(in_.timer);
  in_.timer = null;
}

/** instance_start + instance_run: stdin /dev/null, stdout/stderr to the log when asked, else /dev/null; no other descriptor. */
function instanceStart(in_: Instance): void {
  if (!in_.config.command?.length) return log(`Not starting instance ${in_.service.name}::${in_.name}, command not set`);
  if (in_.pending) {
    if (in_.halt) in_.restart = true;
    return;
  }
  in_.restart = false;
  in_.halt = false;
  const [cmd, ...args] = in_.config.command;
  const child = spawn(cmd!, args, {
    stdio: ['ignore', in_.config.stdout ? 'pipe' : 'ignore', in_.config.stderr ? 'pipe' : 'ignore'],
    env: { ...process.env, ...(in_.config.env ?? {}) },
  });
  in_.proc = child;
  in_.pending = true;
  in_.startedAt = Date.now();
  const ident = `${basename(cmd!)}[${child.pid}]`;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) log(`${ident}: ${l}`);
    });
  }
  child.on('error', (e) => log(`${in_.service.name}::${in_.name} exec failed: ${e.message}`));
  child.on('exit', (code, sig) => instanceExit(in_, child, code === null ? 128 + (sig ? signalNumber(sig) : 0) : code));
  log(`Started instance ${in_.service.name}::${in_.name}[${child.pid}]`);
}

function signalNumber(sig: NodeJS.Signals): number {
  return ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGSEGV: 11, SIGABRT: 6 } as Record<string, number>)[sig] ?? 0;
}

/** instance_exit: halt (stopping) deletes or restarts; else respawn after respawn_timeout, until retry crashes within threshold. */
function instanceExit(in_: Instance, child: ChildProcess, exitCode: number): void {
  if (in_.proc !== child) return;
  in_.pending = false;
  in_.proc = null;
  in_.exitCode = exitCode;
  const runtime = Math.floor((Date.now() - in_.startedAt) / 1000);
  cancelTimer(in_);
  log(`Instance ${in_.service.name}::${in_.name} exit with error code ${exitCode} after ${runtime} seconds`);
  if (in_.halt) {
    if (in_.restart) instanceStart(in_);
    else instanceDelete(in_);
  } else if (in_.restart) {
    instanceStart(in_);
  } else if (in_.respawn) {
    in_.respawnCount = runtime < in_.respawnThreshold ? in_.respawnCount + 1 : 0;
    if (in_.respawnCount > in_.respawnRetry && in_.respawnRetry > 0) {
      log(`Instance ${in_.service.name}::${in_.name} s in a crash loop ${in_.respawnCount} crashes, ${runtime} seconds since last crash`);
      in_.restart = in_.respawn = false;
      in_.halt = true;
    } else {
      setTimer(in_, in_.respawnTimeout, () => {
        if (in_.restart || in_.respawn) instanceStart(in_);
      });
    }
  }
}

/** instance_timeout while halting: SIGKILL after term_timeout. */
function killAfterTermTimeout(in_: Instance): void {
  setTimer(in_, in_.termTimeout, () => {
    if (in_.halt && in_.pending && in_.proc?.pid) {
      log(`Instance ${in_.service.name}::${in_.name} pid ${in_.proc.pid} not stopped on SIGTERM, sending SIGKILL instead`);
      in_.proc.kill('SIGKILL');
    }
  });
}

/** instance_stop */
function instanceStop(in_: Instance, halt: boolean): void {
  if (!in_.pending) {
    if (halt) instanceDelete(in_);
    return;
  }
  in_.halt = halt;
  in_.restart = in_.respawn = false;
  in_.proc!.kill('SIGTERM');
  killAfterTermTimeout(in_);
}

/** instance_restart: the reload signal, or SIGTERM and a start once it exited. */
function instanceRestart(in_: Instance): void {
  if (!in_.pending) return;
  if (in_.config.reload_signal) return void process.kill(in_.proc!.pid!, in_.config.reload_signal);
  in_.halt = true;
  in_.restart = true;
  in_.proc!.kill('SIGTERM');
  killAfterTermTimeout(in_);
}

/** instance_update: a stopped (or stopping) instance starts with the new config; a running one restarts only if it changed. */
function instanceUpdate(in_: Instance, config: InstanceConfig): void {
  const changed = configChanged(in_.config, config);
  if (!in_.pending || in_.halt) {
    applyConfig(in_, config);
    instanceStart(in_);
  } else {
    if (changed) instanceRestart(in_);
    applyConfig(in_, config);
  }
}

function instanceDelete(in_: Instance): void {
  cancelTimer(in_);
  in_.service.instances.delete(in_.name);
  if (in_.service.deleted && in_.service.instances.size === 0) services.delete(in_.service.name);
}

// ---- service.c ----

/** service_update (set: instances not declared again are stopped; add: kept). */
function serviceSet(msg: { name: string; script?: string; instances?: Record<string, InstanceConfig>; triggers?: Trigger[] }, add: boolean): void {
  let s = services.get(msg.name);
  if (!s || s.deleted) {
    s = { name: msg.name, script: msg.script, instances: new Map(), triggers: [], deleted: false };
    services.set(msg.name, s);
  }
  if (msg.script) s.script = msg.script;
  s.triggers = msg.triggers ?? [];
  const declared = Object.entries(msg.instances ?? {});
  for (const [name, config] of declared) {
    const old = s.instances.get(name);
    if (old) instanceUpdate(old, config);
    else {
      const in_ = newInstance(s, name, config);
      s.instances.set(name, in_);
      instanceStart(in_);
    }
  }
  if (!add) {
    for (const [name, in_] of s.instances) if (!declared.some(([n]) => n === name)) instanceStop(in_, true);
  }
}

/** service_delete / instance delete: the reply does not wait for the processes to end. */
function serviceDelete(msg: { name?: string; instance?: string }): void {
  for (const s of [...services.values()]) {
    if (msg.name && s.name !== msg.name) continue;
    if (msg.instance) {
      const in_ = s.instances.get(msg.instance);
      if (in_) instanceStop(in_, true);
      continue;
    }
    s.deleted = true;
    s.triggers = [];
    if (s.instances.size === 0) services.delete(s.name);
    for (const in_ of [...s.instances.values()]) instanceStop(in_, true);
  }
}

function serviceList(msg: { name?: string }): object {
  const out: Record<string, object> = {};
  for (const s of services.values()) {
    if (msg.name && s.name !== msg.name) continue;
    const instances: Record<string, object> = {};
    for (const in_ of s.instances.values()) {
      instances[in_.name] = {
        running: in_.pending,
        ...(in_.pending ? { pid: in_.proc!.pid } : { exit_code: in_.exitCode }),
        command: in_.config.command,
        term_timeout: in_.termTimeout,
        ...(in_.respawn ? { respawn: { threshold: in_.respawnThreshold, timeout: in_.respawnTimeout, retry: in_.respawnRetry } } : {}),
      };
    }
    out[s.name] = { instances, triggers: s.triggers };
  }
  return out;
}

// ---- trigger.c ----

const pendingTriggers = new Map<string, NodeJS.Timeout>();
let scriptQueue: Promise<void> = Promise.resolve();

/** A rule of procd.sh's _procd_add_config_trigger: ["if", ["eq", "package", PKG], ["run_script", ...argv]]. */
function matchRunScript(rule: unknown, data: Record<string, string>): string[] | null {
  if (!Array.isArray(rule) || rule[0] !== 'if') return null;
  const [, cond, action] = rule as [string, unknown[], unknown[]];
  if (!Array.isArray(cond) || cond[0] !== 'eq' || data[String(cond[1])] !== cond[2]) return null;
  if (!Array.isArray(action) || action[0] !== 'run_script') return null;
  return action.slice(1).map(String);
}

/** trigger_event: a matching trigger runs its script after its delay; events inside the delay coalesce. Scripts run one at a time. */
function serviceEvent(msg: { type: string; data?: Record<string, string> }): void {
  for (const s of services.values()) {
    for (const [type, rule, delay] of s.triggers) {
      if (type !== msg.type) continue;
      const argv = matchRunScript(rule, msg.data ?? {});
      if (!argv) continue;
      const key = `${s.name}\0${argv.join('\0')}`;
      const prev = pendingTriggers.get(key);
      if (prev) clearTimeout(prev);
      pendingTriggers.set(key, setTimeout(() => {
        pendingTriggers.delete(key);
        scriptQueue = scriptQueue.then(() => runScript(argv));
      }, delay ?? 0));
    }
  }
}

/** run_script: an init script through its interpreter line, as exec() would run it. */
function runScript(argv: string[]): Promise<void> {
  return new Promise((resolve) => {
    const [script, ...args] = argv;
    log(`trigger: running ${argv.join(' ')}`);
    const child = spawn(INIT_SHELL[0]!, [...INIT_SHELL.slice(1), RC_COMMON, script!, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => log(`trigger ${basename(script!)}: ${b.toString().trimEnd()}`));
    child.stderr.on('data', (b: Buffer) => log(`trigger ${basename(script!)}: ${b.toString().trimEnd()}`));
    child.on('exit', (code) => (log(`trigger: ${argv.join(' ')} exited ${code}`), resolve()));
  });
}

// ---- the ubus transport (one JSON request a connection: {object, method, args}) ----

function handle(req: { object: string; method: string; args: Record<string, unknown> }): object {
  if (req.object !== 'service') throw new Error(`Not found: ${req.object}`);
  const a = req.args as never;
  switch (req.method) {
    case 'set':
      return (serviceSet(a, false), {});
    case 'add':
      return (serviceSet(a, true), {});
    case 'delete':
      return (serviceDelete(a), {});
    case 'list':
      return serviceList(a);
    case 'event':
      return (serviceEvent(a), {});
    default:
      throw new Error(`Method not found: ${req.method}`);
  }
}

rmSync(socketPath, { force: true });
const server = createServer((sock: Socket) => {
  let input = '';
  sock.on('data', (b) => {
    input += b.toString();
    if (!input.endsWith('\n')) return;
    try {
      sock.end(`${JSON.stringify({ ok: true, reply: handle(JSON.parse(input)) })}\n`);
    } catch (e) {
      sock.end(`${JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })}\n`);
    }
  });
});
server.listen(socketPath, () => log('procd double listening'));

/** Like procd at shutdown: every instance gets SIGTERM, then SIGKILL after its term_timeout. */
process.on('SIGTERM', () => {
  serviceDelete({});
  const check = setInterval(() => {
    if ([...services.values()].every((s) => s.instances.size === 0)) (clearInterval(check), server.close(), process.exit(0));
  }, 100);
});
