// An rpcd + uhttpd-mod-ubus emulator: runs the built exec plugin exactly the way rpcd does on a
// router, with rpcd's sessions and ACLs, behind uhttpd's JSON-RPC door (POST /ubus). Tests use
// it to drive the real plugin through the real protocol; `npm start` uses it to serve the LuCI
// page. Behaviour follows rpcd's plugin.c, exec.c and session.c and uhttpd's ubus.c:
//
// - Plugins are the executable regular files in a directory; `<plugin> list` runs once at
//   start, synchronously, stdin and stderr on /dev/null, and must print one JSON object
//   `{method: {arg: example}}` (the first JSON value on stdout is used).
// - rpcd does NOT check call arguments against the signature: libubus hands the whole message
//   to rpc_plugin_call, which formats it as JSON for the plugin's stdin. The signature is
//   introspection only (`ubus -v list`, uhttpd's "list"). So arguments of the wrong type,
//   unknown arguments and missing ones all reach the plugin, which must refuse them itself.
// - `<plugin> call <method>`: the JSON arguments on stdin, then EOF. The reply is the first
//   JSON value on stdout, taken once stdout AND stderr have reached EOF (not at process exit):
//   an object → status 0 with it; no output at all, or `null` → 5 (NO_DATA); anything else
//   (array, scalar, bad or incomplete JSON, whitespace only) → 2 (INVALID_ARGUMENT). The exit
//   code is ignored. The timer runs from the start until the reply: on expiry the plugin's pid
//   (only that pid: rpcd kills no process group) gets SIGKILL and the call answers 7 (TIMEOUT).
//   rpcd keeps the timer running after the process exits, so a grandchild that holds stdout or
//   stderr also ends in status 7.
// - Plugins run with rpcd's umask (077), without a working directory change, in rpcd's
//   environment: here just PATH (procd gives rpcd little more) plus `env` from the options.
// - Sessions: session.login checks the configured logins (like `config login` in
//   /etc/config/rpcd: plain passwords here; an empty password accepts any, as rpcd does), then
//   grants from every acl.d/*.json group the login's `read`/`write` globs allow (fnmatch;
//   `!glob` denies first; write implies read), plus `access-group` entries. Sessions expire
//   after `timeout` seconds without use (300 by default; every access check is a use). The
//   anonymous session 000…0 holds the `unauthenticated` group only. The built-in ACL files are
//   rpcd's unauthenticated.json (session.access, session.login) and luci-base's luci-base.json
//   (its `unauthenticated` group adds luci.getFeatures; its `luci-base` group grants neither),
//   so a login needs `unauthenticated` for what every LuCI page calls, as on a router.
//   Implemented `session` methods: login, access, destroy; and luci-base's `luci.getFeatures`.
// - HTTP as uhttpd-mod-ubus: POST /ubus (and /ubus/...) with JSON-RPC 2.0 "call" and "list",
//   batches (arrays) answered in order, one after the other; bodies over 64 KiB get 413.
//   Access is checked (session.access ubus/object/function) before the object is looked up.
//
// Not emulated: a reply larger than ubus's 1 MiB message limit makes real ubusd drop rpcd's
// connection; here it answers 9 (UNKNOWN_ERROR) so the oversized reply is noticed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, constants as fsConstants } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** ubus status codes (libubus ubusmsg.h). */
export const UBUS = {
  OK: 0,
  INVALID_COMMAND: 1,
  INVALID_ARGUMENT: 2,
  METHOD_NOT_FOUND: 3,
  NOT_FOUND: 4,
  NO_DATA: 5,
  PERMISSION_DENIED: 6,
  TIMEOUT: 7,
  NOT_SUPPORTED: 8,
  UNKNOWN_ERROR: 9,
  CONNECTION_FAILED: 10,
} as const;

/** uhttpd-mod-ubus JSON-RPC error codes. */
export const JSONRPC_ERROR = {
  PARSE: -32700,
  REQUEST: -32600,
  METHOD: -32601,
  PARAMS: -32602,
  INTERNAL: -32603,
  OBJECT: -32000,
  SESSION: -32001,
  ACCESS: -32002,
  TIMEOUT: -32003,
} as const;

const JSONRPC_MESSAGE: Record<number, string> = {
  [-32700]: 'Parse error',
  [-32600]: 'Invalid request',
  [-32601]: 'Method not found',
  [-32602]: 'Invalid parameters',
  [-32603]: 'Internal error',
  [-32000]: 'Object not found',
  [-32001]: 'Session not found',
  [-32002]: 'Access denied',
  [-32003]: 'ubus request timed out',
};

export const ANONYMOUS_SID = '00000000000000000000000000000000';
/** uhttpd-mod-ubus: UH_UBUS_MAX_POST_SIZE. */
export const MAX_POST_BYTES = 65536;
/** ubus: UBUS_MAX_MSGLEN. */
export const MAX_UBUS_MESSAGE = 1048576;
const DEFAULT_SESSION_TIMEOUT_S = 300;
const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** rpcd waits for `list` without a timeout; the emulator gives up (and throws) after this. */
const LIST_GUARD_MS = 10_000;
const CAPTURE_LIMIT = 8 * MAX_UBUS_MESSAGE;
/** Run argv with rpcd's umask, keeping the pid (exec) so SIGKILL reaches the plugin itself. */
const WITH_UMASK = 'umask 077; exec "$0" "$@"';

export interface Login {
  username: string;
  password: string;
  read: string[];
  write: string[];
}

export interface ExecRecord {
  object: string;
  method: string;
  /** The exact bytes written to the plugin's stdin. */
  input: string;
  stdout: string;
  stderr: string;
  status: number;
  pid: number;
  /** From spawn to the reply. */
  ms: number;
}

export interface RpcdOptions {
  /** Directory of plugin executables (default <repo>/rpcd). */
  pluginDir?: string;
  /** Directory of ACL files, every *.json in it (default <repo>/acl.d). */
  aclDir?: string;
  /** Added to the plugins' environment (MAILSERVER_ROOT, PATH, ...). */
  env?: Record<string, string>;
  /** rpcd's exec timeout (default 30 000 ms, as `option timeout 30` on OpenWrt). */
  timeoutMs?: number;
  logins: Login[];
  /**
   * Names of the executables in pluginDir that are plugins. Default: only `luci.mailserver` in
   * the default directory (the build also leaves mailctl and the Node bundle there, which on a
   * router live elsewhere); every executable in any other directory.
   */
  plugins?: string[];
  /** Idle timeout of a login session in seconds (default 300, rpcd's default). */
  sessionTimeoutS?: number;
  /** Add luci-base's ACL file and its `luci.getFeatures` (LuCI installed); default true. */
  luciBase?: boolean;
  /** Called after every plugin call with what went in and came out (debugging, tests). */
  onExec?: (record: ExecRecord) => void;
}

export interface Rpcd {
  /** How long `list` took at start. */
  listMs: number;
  /** luci.mailserver's signature as `list` printed it. */
  signature: Record<string, Record<string, unknown>>;
  login(username: string, password: string): Promise<string | null>;
  /**
   * A ubus call made on behalf of session `sid`, as uhttpd makes it: the session's ACL is checked
   * (denied → 6, PERMISSION_DENIED, where HTTP answers -32002) and `ubus_rpc_session` is added to
   * the arguments. `sid` "" is a local root call (`ubus call` on the router): no ACL, no session key.
   */
  call(sid: string, object: string, method: string, args: object): Promise<[number, object?]>;
  /** Answers POST /ubus (and /ubus/...) as uhttpd-mod-ubus; 404 otherwise. */
  handleHttp(req: IncomingMessage, res: ServerResponse): void;
  /** Convenience: an HTTP server on host:port (default 127.0.0.1, a free port) using handleHttp. */
  listen(port?: number, host?: string): Promise<{ url: string; close(): Promise<void> }>;
  /** Stop: SIGKILL plugin calls still running, close servers made by listen, drop sessions. */
  close(): void;
}

// --- fnmatch(3) -----------------------------------------------------------------------

const regexCache = new Map<string, RegExp>();

/** fnmatch(pattern, name, flags) === 0, without FNM_PATHNAME/FNM_PERIOD (as rpcd calls it). */
export function fnmatch(pattern: string, name: string, noEscape = false): boolean {
  const key = `${noEscape ? 1 : 0}${pattern}`;
  let re = regexCache.get(key);
  if (!re) {
    re = globRegExp(pattern, noEscape);
    regexCache.set(key, re);
  }
  return re.test(name);
}

function globRegExp(p: string, noEscape: boolean): RegExp {
  const esc = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '\\' && !noEscape && i + 1 < p.length) out += esc(p[++i]!);
    else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (p[j] === '!' || p[j] === '^') {
        negate = true;
        j++;
      }
      const start = j;
      if (p[j] === ']') j++;
      while (j < p.length && p[j] !== ']') j++;
      if (j >= p.length) {
        out += '\\[';
        continue;
      }
      let body = '';
      for (let k = start; k < j; k++) {
        const ch = p[k]!;
        if (ch === '-' && k > start && k < j - 1) body += '-';
        else if (ch === '\\' && !noEscape && k + 1 < j) body += esc(p[++k]!);
        else body += esc(ch);
      }
      out += `[${negate ? '^' : ''}${body}]`;
      i = j;
    } else out += esc(c);
  }
  return new RegExp(`^${out}$`);
}

// --- what ubus does to JSON on the way through blobmsg ----------------------------------------

/** blobmsg strings and names are NUL-terminated C strings: anything after a NUL is lost. */
function throughBlob(v: unknown): unknown {
  if (typeof v === 'string') return v.split('\0')[0];
  if (Array.isArray(v)) return v.map(throughBlob);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k.split('\0')[0]!] = throughBlob(x);
    return out;
  }
  return v;
}

/**
 * The plugin's stdin: the message as blobmsg_format_json prints it. uhttpd appends
 * `ubus_rpc_session` to the caller's arguments, so a caller-supplied key of that name stays
 * in front of it and the last one (the real session) wins for any JSON reader.
 */
function stdinText(args: object, sid: string | null): string {
  const base = JSON.stringify(throughBlob(args));
  if (sid === null) return base;
  const extra = `"ubus_rpc_session":${JSON.stringify(sid)}`;
  return base === '{}' ? `{${extra}}` : `${base.slice(0, -1)},${extra}}`;
}

/** Status (and data) of a plugin call from its stdout, as rpc_plugin_call_finish_cb decides. */
export function replyFromOutput(text: string): [number, object?] {
  if (text.length === 0) return [UBUS.NO_DATA];
  let i = 0;
  while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  if (i === text.length) return [UBUS.INVALID_ARGUMENT]; // json-c still waits for a value
  const first = text[i]!;
  if (first !== '{' && first !== '[') {
    // A scalar: never an object. json-c's `null` is a complete value but no object: no data.
    return text.startsWith('null', i) ? [UBUS.NO_DATA] : [UBUS.INVALID_ARGUMENT];
  }
  let depth = 0;
  let inString = false;
  let end = -1;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (inString) {
      if (c === '\\') j++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        end = j + 1;
        break;
      }
    }
  }
  if (end < 0) return [UBUS.INVALID_ARGUMENT];
  let value: unknown;
  try {
    value = JSON.parse(text.slice(i, end));
  } catch {
    return [UBUS.INVALID_ARGUMENT];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [UBUS.INVALID_ARGUMENT];
  return [UBUS.OK, throughBlob(value) as object];
}

/** The type uhttpd's "list" shows for a signature example (blobmsg policy type). */
export function signatureType(example: unknown): string {
  if (typeof example === 'string') return 'string';
  if (typeof example === 'boolean') return 'boolean';
  if (Array.isArray(example)) return 'array';
  if (example !== null && typeof example === 'object') return 'object';
  if (typeof example === 'number' && Number.isInteger(example)) {
    // rpcd maps the int examples 8/16/64 to INT8 (shown as "boolean": BOOL is INT8), INT16, INT64.
    if (example === 8) return 'boolean';
    if (example === 16 || example === 64) return 'unknown';
    return 'number';
  }
  return 'unknown';
}

// --- ACL -------------------------------------------------------------------------------

type AclFile = Record<string, unknown>;

/** rpcd's own acl.d/unauthenticated.json: what the anonymous session (and any login granted the
 * group "unauthenticated") may do. session.access comes from here only. */
const RPCD_UNAUTHENTICATED: AclFile = {
  unauthenticated: {
    description: 'Access controls for unauthenticated requests',
    read: { ubus: { session: ['access', 'login'] } },
  },
};

/**
 * luci-base's acl.d/luci-base.json as LuCI ships it (the groups a mail page meets): its
 * "unauthenticated" group adds luci.getFeatures, which LuCI calls on every page; "luci-base"
 * itself grants neither session.access nor luci.getFeatures, so a login without
 * "unauthenticated" gets LuCI's "Session expired", as on a router.
 */
const LUCI_BASE_ACL: AclFile = {
  unauthenticated: {
    description: 'Allow system feature probing',
    read: { ubus: { luci: ['getFeatures'] } },
  },
  'luci-base': {
    description: 'Grant access to basic LuCI procedures',
    read: {
      file: { '/': ['list'], '/*': ['list'] },
      ubus: { file: ['list'], uci: ['changes', 'get'] },
    },
    write: {
      'cgi-io': ['upload'],
      file: { '/etc/luci-uploads/*': ['write'] },
      ubus: { file: ['remove'], uci: ['add', 'apply', 'confirm', 'delete', 'order', 'rename', 'set'] },
    },
  },
};

/**
 * luci-base's rpcd module `luci`, the one method every LuCI page calls: getFeatures, the
 * booleans its ucode source derives from files on the host (the wifi/dnsmasq/odhcpd/ipset
 * probes, which run those tools, are left out: none of them is on a mail test machine).
 */
function luciFeatures(): Record<string, boolean> {
  const has = (path: string) => existsSync(path);
  return {
    firewall: has('/sbin/fw3'),
    firewall4: has('/sbin/fw4'),
    opkg: has('/bin/opkg'),
    bonding: has('/sys/module/bonding'),
    mii_tool: has('/usr/sbin/mii-tool'),
    offloading: has('/sys/module/xt_FLOWOFFLOAD/refcnt') || has('/sys/module/nft_flow_offload/refcnt'),
    br2684ctl: has('/usr/sbin/br2684ctl'),
    swconfig: has('/sbin/swconfig'),
    zram: has('/sys/class/zram-control'),
    ipv6: has('/proc/net/ipv6_route'),
    dropbear: has('/usr/sbin/dropbear'),
    cabundle: has('/etc/ssl/certs/ca-certificates.crt'),
    relayd: has('/usr/sbin/relayd'),
    apk: has('/usr/bin/apk'),
    wifi: has('/sbin/wifi'),
  };
}

interface Grant {
  scope: string;
  object: string;
  fn: string;
}

interface Session {
  id: string;
  /** Seconds; 0 never expires (the anonymous session). */
  timeout: number;
  lastUsed: number;
  grants: Grant[];
  data: Record<string, unknown>;
}

/** rpc_login_test_permission. */
function permitted(login: Login | null, perm: 'read' | 'write', group: string): boolean {
  if (!login) return group === 'unauthenticated';
  const list = (perm === 'read' ? login.read : login.write) ?? [];
  for (const entry of list) {
    if (!entry.startsWith('!')) continue;
    const p = entry.slice(1).trimStart();
    if (p && fnmatch(p, group)) return false;
  }
  for (const entry of list) {
    if (entry && !entry.startsWith('!') && fnmatch(entry, group)) return true;
  }
  return perm === 'read' ? permitted(login, 'write', group) : false;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

// --- the emulator ------------------------------------------------------------------------

interface Plugin {
  name: string;
  path: string;
  signature: Record<string, Record<string, unknown>>;
}

class Emulator implements Rpcd {
  listMs = 0;
  signature: Record<string, Record<string, unknown>> = {};
  private readonly plugins = new Map<string, Plugin>();
  private readonly sessions = new Map<string, Session>();
  private readonly running = new Set<ChildProcess>();
  private readonly servers = new Set<() => Promise<void>>();
  private readonly env: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly aclDir: string;
  private closed = false;

  constructor(private readonly opts: RpcdOptions) {
    this.env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env };
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.aclDir = opts.aclDir ?? join(REPO, 'acl.d');
    this.sessions.set(ANONYMOUS_SID, this.newSession(ANONYMOUS_SID, 0, null));
  }

  // --- plugins ---

  registerPlugins(): void {
    const dir = this.opts.pluginDir ?? join(REPO, 'rpcd');
    const only = this.opts.plugins ?? (this.opts.pluginDir === undefined ? ['luci.mailserver'] : undefined);
    for (const name of readdirSync(dir).sort()) {
      if (only && !only.includes(name)) continue;
      const path = join(dir, name);
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      if (!st.isFile() || !(st.mode & fsConstants.S_IXUSR)) continue;
      const started = performance.now();
      const signature = this.list(path);
      const ms = performance.now() - started;
      if (name === 'luci.mailserver') this.listMs = ms;
      if (signature) this.plugins.set(name, { name, path, signature });
    }
    const ours = this.plugins.get('luci.mailserver');
    if (!ours) throw new Error(`rpcd emulator: no usable luci.mailserver plugin in ${dir} (missing, not executable, or its \`list\` printed no signature); run node scripts/build.mjs`);
    this.signature = ours.signature;
  }

  /** rpc_plugin_register_exec + rpc_plugin_parse_exec. */
  private list(path: string): Record<string, Record<string, unknown>> | null {
    // spawnSync blocks this thread, so the umask change cannot leak into our own file writes.
    const umask = process.umask(0o077);
    let r;
    try {
      r = spawnSync(path, ['list'], { stdio: ['ignore', 'pipe', 'ignore'], env: this.env, timeout: LIST_GUARD_MS, killSignal: 'SIGKILL', maxBuffer: CAPTURE_LIMIT });
    } finally {
      process.umask(umask);
    }
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
      throw new Error(`rpcd emulator: \`${path} list\` ran longer than ${LIST_GUARD_MS} ms (rpcd would hang at start)`);
    }
    const [status, value] = replyFromOutput(r.stdout?.toString('utf8') ?? '');
    if (status !== UBUS.OK || !value) return null;
    const methods: Record<string, Record<string, unknown>> = {};
    for (const [m, sig] of Object.entries(value)) if (isObject(sig)) methods[m] = sig;
    return Object.keys(methods).length ? methods : null;
  }

  private execPlugin(plugin: Plugin, method: string, input: string): Promise<[number, object?]> {
    return new Promise((resolveCall) => {
      const started = performance.now();
      const child = spawn('/bin/sh', ['-c', WITH_UMASK, plugin.path, 'call', method], { stdio: ['pipe', 'pipe', 'pipe'], env: this.env });
      this.running.add(child);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let eofs = 0;
      let done = false;
      const finish = (reply: [number, object?]) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.running.delete(child);
        child.stdout?.destroy();
        child.stderr?.destroy();
        child.stdin?.destroy();
        if (reply[1] && JSON.stringify(reply[1]).length > MAX_UBUS_MESSAGE) {
          reply = [UBUS.UNKNOWN_ERROR];
          err.push(Buffer.from(`\n[rpcd emulator] reply larger than ubus's ${MAX_UBUS_MESSAGE}-byte message limit\n`));
        }
        this.opts.onExec?.({
          object: plugin.name,
          method,
          input,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          status: reply[0],
          pid: child.pid ?? 0,
          ms: performance.now() - started,
        });
        resolveCall(reply);
      };
      const timer = setTimeout(() => {
        if (child.pid) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        finish([UBUS.TIMEOUT]);
      }, this.timeoutMs);
      child.stdout!.on('data', (b: Buffer) => {
        if (outBytes < CAPTURE_LIMIT) out.push(b);
        outBytes += b.length;
      });
      child.stderr!.on('data', (b: Buffer) => {
        if (errBytes < CAPTURE_LIMIT) err.push(b);
        errBytes += b.length;
      });
      const eof = () => {
        if (++eofs === 2) finish(replyFromOutput(Buffer.concat(out).toString('utf8')));
      };
      child.stdout!.on('end', eof);
      child.stderr!.on('end', eof);
      child.on('error', () => finish([UBUS.NOT_FOUND]));
      child.stdin!.on('error', () => {}); // a plugin that exits without reading its stdin
      child.stdin!.end(input);
    });
  }

  // --- sessions ---

  private newSession(id: string, timeout: number, login: Login | null): Session {
    const s: Session = { id, timeout, lastUsed: Date.now(), grants: [], data: {} };
    this.setupAcls(s, login);
    return s;
  }

  /** rpc_session_get: a live session, touched; expired ones are gone. */
  private session(id: unknown): Session | null {
    if (typeof id !== 'string') return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const now = Date.now();
    if (s.timeout > 0 && now - s.lastUsed >= s.timeout * 1000) {
      this.sessions.delete(id);
      return null;
    }
    s.lastUsed = now;
    return s;
  }

  private aclFiles(): AclFile[] {
    const files: AclFile[] = [RPCD_UNAUTHENTICATED];
    if (this.opts.luciBase !== false) files.push(LUCI_BASE_ACL);
    let names: string[] = [];
    try {
      names = readdirSync(this.aclDir).filter((n) => n.endsWith('.json')).sort();
    } catch {
      // no acl.d: only the built-in groups
    }
    for (const n of names) {
      try {
        const parsed = JSON.parse(readFileSync(join(this.aclDir, n), 'utf8')) as unknown;
        if (isObject(parsed)) files.push(parsed);
        else process.stderr.write(`rpcd emulator: Failed to parse ${join(this.aclDir, n)}\n`);
      } catch {
        process.stderr.write(`rpcd emulator: Failed to parse ${join(this.aclDir, n)}\n`);
      }
    }
    return files;
  }

  private grant(s: Session, scope: string, object: string, fn: string): void {
    if (!s.grants.some((g) => g.scope === scope && g.object === object && g.fn === fn)) s.grants.push({ scope, object, fn });
  }

  /** rpc_login_setup_acls (re-reads acl.d at every login, as rpcd does). */
  private setupAcls(s: Session, login: Login | null): void {
    for (const file of this.aclFiles()) {
      for (const [group, body] of Object.entries(file)) {
        if (!isObject(body)) continue;
        for (const [perm, scopes] of Object.entries(body)) {
          if (!isObject(scopes) || (perm !== 'read' && perm !== 'write')) continue;
          if (!permitted(login, perm, group)) continue;
          for (const [scope, entries] of Object.entries(scopes)) {
            if (isObject(entries)) {
              for (const [object, fns] of Object.entries(entries)) {
                if (!Array.isArray(fns)) continue;
                for (const fn of fns) if (typeof fn === 'string') this.grant(s, scope, object, fn);
              }
            } else if (Array.isArray(entries)) {
              for (const object of entries) if (typeof object === 'string') this.grant(s, scope, object, perm);
            }
            this.grant(s, 'access-group', group, perm);
          }
        }
      }
    }
  }

  private allowedIn(s: Session, scope: string, object: string, fn: string): boolean {
    return s.grants.some((g) => g.scope === scope && fnmatch(g.object, object, true) && fnmatch(g.fn, fn, true));
  }

  /** uhttpd's uh_ubus_allowed: session.access on scope "ubus". */
  private allowed(sid: string, object: string, fn: string): boolean {
    const s = this.session(sid);
    return s !== null && this.allowedIn(s, 'ubus', object, fn);
  }

  private dumpAcls(s: Session): Record<string, Record<string, string[]>> {
    const out: Record<string, Record<string, string[]>> = {};
    const sorted = [...s.grants].sort((a, b) => (a.scope + '\0' + a.object + '\0' + a.fn < b.scope + '\0' + b.object + '\0' + b.fn ? -1 : 1));
    for (const g of sorted) ((out[g.scope] ??= {})[g.object] ??= []).push(g.fn);
    return out;
  }

  private sessionMethod(method: string, msg: Record<string, unknown>): [number, object?] {
    switch (method) {
      case 'login': {
        const { username, password } = msg;
        if (typeof username !== 'string' || typeof password !== 'string') return [UBUS.INVALID_ARGUMENT];
        const login = this.opts.logins.find((l) => l.username === username && (l.password === '' || l.password === password));
        if (!login) return [UBUS.PERMISSION_DENIED];
        const timeout = Number.isInteger(msg.timeout) ? (msg.timeout as number) : (this.opts.sessionTimeoutS ?? DEFAULT_SESSION_TIMEOUT_S);
        let id: string;
        do id = randomBytes(16).toString('hex');
        while (this.sessions.has(id));
        const s = this.newSession(id, timeout, login);
        s.data.username = username;
        this.sessions.set(id, s);
        return [UBUS.OK, { ubus_rpc_session: id, timeout, expires: timeout, acls: this.dumpAcls(s), data: { ...s.data } }];
      }
      case 'access': {
        if (typeof msg.ubus_rpc_session !== 'string') return [UBUS.INVALID_ARGUMENT];
        const s = this.session(msg.ubus_rpc_session);
        if (!s) return [UBUS.NOT_FOUND];
        if (typeof msg.object === 'string' && typeof msg.function === 'string') {
          const scope = typeof msg.scope === 'string' ? msg.scope : 'ubus';
          return [UBUS.OK, { access: this.allowedIn(s, scope, msg.object, msg.function) }];
        }
        return [UBUS.OK, this.dumpAcls(s)];
      }
      case 'destroy': {
        if (typeof msg.ubus_rpc_session !== 'string') return [UBUS.INVALID_ARGUMENT];
        if (msg.ubus_rpc_session === ANONYMOUS_SID) return [UBUS.PERMISSION_DENIED];
        if (!this.session(msg.ubus_rpc_session)) return [UBUS.NOT_FOUND];
        this.sessions.delete(msg.ubus_rpc_session);
        return [UBUS.OK];
      }
      default:
        return [UBUS.METHOD_NOT_FOUND];
    }
  }

  private static readonly SESSION_SIGNATURE: Record<string, Record<string, string>> = {
    login: { username: 'string', password: 'string', timeout: 'number' },
    access: { ubus_rpc_session: 'string', scope: 'string', object: 'string', function: 'string' },
    destroy: { ubus_rpc_session: 'string' },
  };

  // --- ubus ---

  /** One ubus invoke: the object's method with the message as JSON text. */
  private async invoke(object: string, method: string, input: string): Promise<[number, object?]> {
    if (this.closed) return [UBUS.CONNECTION_FAILED];
    if (object === 'session') {
      if (!(method in Emulator.SESSION_SIGNATURE)) return [UBUS.METHOD_NOT_FOUND];
      return this.sessionMethod(method, JSON.parse(input) as Record<string, unknown>);
    }
    if (object === 'luci' && this.opts.luciBase !== false) return method === 'getFeatures' ? [UBUS.OK, luciFeatures()] : [UBUS.METHOD_NOT_FOUND];
    const plugin = this.plugins.get(object);
    if (!plugin) return [UBUS.NOT_FOUND];
    if (!Object.hasOwn(plugin.signature, method)) return [UBUS.METHOD_NOT_FOUND];
    return this.execPlugin(plugin, method, input);
  }

  private objectExists(object: string): boolean {
    return object === 'session' || (object === 'luci' && this.opts.luciBase !== false) || this.plugins.has(object);
  }

  async call(sid: string, object: string, method: string, args: object): Promise<[number, object?]> {
    if (!isObject(args)) return [UBUS.INVALID_ARGUMENT];
    if (sid === '') return this.invoke(object, method, stdinText(args, null));
    if (!this.allowed(sid, object, method)) return [UBUS.PERMISSION_DENIED];
    return this.invoke(object, method, stdinText(args, sid));
  }

  async login(username: string, password: string): Promise<string | null> {
    const [status, data] = await this.call(ANONYMOUS_SID, 'session', 'login', { username, password });
    return status === UBUS.OK && data ? String((data as { ubus_rpc_session: string }).ubus_rpc_session) : null;
  }

  // --- HTTP (uhttpd-mod-ubus) ---

  handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'POST' || !(path === '/ubus' || path.startsWith('/ubus/'))) {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found\n');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const tooLarge = () => {
      refused = true;
      res.writeHead(413, 'Too Large', { 'Content-Type': 'text/plain', Connection: 'close' }).end();
    };
    if (Number(req.headers['content-length']) > MAX_POST_BYTES) tooLarge();
    req.on('data', (b: Buffer) => {
      if (refused) return;
      size += b.length;
      if (size > MAX_POST_BYTES) tooLarge();
      else chunks.push(b);
    });
    req.on('end', () => {
      if (refused) return;
      this.jsonRpc(Buffer.concat(chunks).toString('utf8')).then(
        (body) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(body),
        () => res.writeHead(500).end(),
      );
    });
    req.on('error', () => res.destroy());
  }

  /** A JSON-RPC body (one request or a batch) → the response body. */
  private async jsonRpc(body: string): Promise<string> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return JSON.stringify(rpcError(null, JSONRPC_ERROR.PARSE));
    }
    if (Array.isArray(parsed)) {
      const answers: object[] = [];
      for (const one of parsed) answers.push(await this.jsonRpcOne(one)); // uhttpd: one after the other
      return JSON.stringify(answers);
    }
    if (isObject(parsed)) return JSON.stringify(await this.jsonRpcOne(parsed));
    return JSON.stringify(rpcError(null, JSONRPC_ERROR.PARSE));
  }

  private async jsonRpcOne(request: unknown): Promise<object> {
    if (!isObject(request)) return rpcError(null, JSONRPC_ERROR.REQUEST);
    const id = request.id ?? null;
    if (request.jsonrpc !== '2.0' || typeof request.method !== 'string') return rpcError(id, JSONRPC_ERROR.REQUEST);
    const params = request.params;
    if (request.method === 'call') {
      if (!Array.isArray(params)) return rpcError(id, JSONRPC_ERROR.PARAMS);
      const [sid, object, fn, args] = params as unknown[];
      if (typeof sid !== 'string' || typeof object !== 'string' || typeof fn !== 'string' || !isObject(args)) return rpcError(id, JSONRPC_ERROR.PARAMS);
      if (!this.allowed(sid, object, fn)) return rpcError(id, JSONRPC_ERROR.ACCESS);
      if (!this.objectExists(object)) return rpcError(id, JSONRPC_ERROR.OBJECT);
      const [status, data] = await this.invoke(object, fn, stdinText(args, sid));
      return { jsonrpc: '2.0', id, result: data ? [status, data] : [status] };
    }
    if (request.method === 'list') {
      if (!Array.isArray(params)) return { jsonrpc: '2.0', id, result: ['session', ...this.plugins.keys()].sort() };
      const result: Record<string, Record<string, Record<string, string>>> = {};
      for (const name of params) {
        if (typeof name !== 'string') continue;
        for (const object of ['session', ...this.plugins.keys()]) {
          if (!(name.endsWith('*') ? object.startsWith(name.slice(0, -1)) : object === name)) continue;
          result[object] =
            object === 'session'
              ? Emulator.SESSION_SIGNATURE
              : Object.fromEntries(
                  Object.entries(this.plugins.get(object)!.signature).map(([m, sig]) => [m, Object.fromEntries(Object.entries(sig).map(([a, ex]) => [a, signatureType(ex)]))]),
                );
        }
      }
      return { jsonrpc: '2.0', id, result };
    }
    return rpcError(id, JSONRPC_ERROR.METHOD);
  }

  listen(port = 0, host = '127.0.0.1'): Promise<{ url: string; close(): Promise<void> }> {
    return new Promise((resolveListen, reject) => {
      const server = createServer((req, res) => this.handleHttp(req, res));
      server.once('error', reject);
      server.listen(port, host, () => {
        const address = server.address() as AddressInfo;
        const close = () =>
          new Promise<void>((done) => {
            this.servers.delete(close);
            server.closeAllConnections?.();
            server.close(() => done());
          });
        this.servers.add(close);
        resolveListen({ url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`, close });
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const child of this.running) {
      if (child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    }
    this.running.clear();
    for (const close of [...this.servers]) void close();
    this.sessions.clear();
  }
}

function rpcError(id: unknown, code: number): object {
  return { jsonrpc: '2.0', id: id ?? null, error: { code, message: JSONRPC_MESSAGE[code] ?? 'Error' } };
}

/** Start the emulator: runs every plugin's `list` now (synchronously, timed) and loads nothing else until a login. */
export async function startRpcd(opts: RpcdOptions): Promise<Rpcd> {
  const emulator = new Emulator(opts);
  emulator.registerPlugins();
  return emulator;
}

// --- standalone: serve the built plugin for a LuCI page under development -------------------
//   node --import tsx test/support/rpcd-emulator.ts [--listen 127.0.0.1:8080] [--root DIR]
//        [--login user:password[:readglob,...[:writeglob,...]]]   (default root:root with * / *)
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const argv = process.argv.slice(2);
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const logins: Login[] = argv
    .flatMap((a, i) => (a === '--login' && argv[i + 1] ? [argv[i + 1]!] : []))
    .map((spec) => {
      const [username = '', password = '', read = '*', write = '*'] = spec.split(':');
      const list = (s: string) => s.split(',').filter(Boolean);
      return { username, password, read: list(read), write: list(write) };
    });
  if (!logins.length) logins.push({ username: 'root', password: 'root', read: ['*'], write: ['*'] });
  const [host = '127.0.0.1', port = '8080'] = (opt('--listen') ?? '127.0.0.1:8080').split(/:(?=[0-9]+$)/);
  const root = opt('--root') ?? process.env.MAILSERVER_ROOT;
  const rpcd = await startRpcd({
    logins,
    env: root ? { MAILSERVER_ROOT: resolve(root) } : {},
    onExec: (e) => process.stdout.write(`${e.object}.${e.method} → ${e.status} (${e.ms.toFixed(0)} ms)${e.stderr ? ` stderr: ${e.stderr.trim().slice(0, 200)}` : ''}\n`),
  });
  const { url } = await rpcd.listen(Number(port), host);
  process.stdout.write(`rpcd emulator: ${url}/ubus (list took ${rpcd.listMs.toFixed(1)} ms); logins: ${logins.map((l) => l.username).join(', ')}\n`);
}
