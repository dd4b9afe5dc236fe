// The local stand-in for a router's uhttpd + LuCI: serves the shell page (index.html, luci.js,
// shell.css), /luci-static/resources/ from luci-app/htdocs (our view and the built app) with
// uhttpd's MIME types, hands POST /ubus to the rpcd emulator (test/support/rpcd-emulator.ts), and
// answers /cgi-bin/luci/... the way LuCI's dispatcher (luci-base ucode/dispatcher.uc) does for our
// menu entries (menu.d/luci-app-mailserver.json or the file given, read at every request):
//
// - The tree: `admin` (login required, cookie sysauth_http, first child), `admin/services` (first
//   child) and every entry of our menu.d file. `/` redirects to /cgi-bin/luci/ (uhttpd's index).
// - No valid session: 403 with the login form (X-LuCI-Login-Required). The form POSTs
//   luci_username/luci_password to the same URL; session.login, then the cookie and a redirect.
// - A node's `depends.acl` groups, gathered along the path, must ALL be granted to the session
//   (access-group read or write), else 403 Forbidden (check_acl_depends → null). The
//   page is read-only (nodespec.readonly) unless one of them is granted for writing.
// - A first-child node renders the child of lowest order the session may open (resolve_firstchild),
//   404 when there is none. The top menu lists only the entries the session may open.
// - The page gets L.env.sessionid and L.env.nodespec (the dispatched node) as LuCI's view template
//   sets them. /cgi-bin/luci/admin/logout destroys the session.
// Not emulated: depends.uci and depends.fs (the sandbox always has /etc/config/mailserver), the
// CSRF token, translations, other LuCI pages.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Rpcd } from '../rpcd-emulator.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..', '..');
export const HTDOCS = join(REPO, 'luci-app', 'htdocs');
export const MENU_FILE = join(REPO, 'menu.d', 'luci-app-mailserver.json');
/** LuCI's script URL on a router (uhttpd's cgi prefix + luci). */
export const LUCI_BASE_URL = '/cgi-bin/luci';
const COOKIE = 'sysauth_http';

// uhttpd's mimetypes.h for what we serve; anything else (.mjs included) is octet-stream there.
const MIME: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.html': 'text/html',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export interface Shell {
  url: string;
  close(): Promise<void>;
}

export interface ShellOptions {
  rpcd: Rpcd;
  port?: number;
  host?: string;
  /** The menu.d file (default ours, menu.d/luci-app-mailserver.json). */
  menuFile?: string;
}

interface MenuNode {
  title?: string;
  order?: number;
  action?: { type: string; path?: string };
  depends?: { acl?: string[]; uci?: unknown };
  auth?: { methods: string[]; login: boolean };
  children?: Record<string, MenuNode>;
}

/** luci-base's own nodes above ours, then our menu.d entries. */
function menuTree(menuFile: string): MenuNode {
  const admin: MenuNode = { title: 'Administration', order: 10, action: { type: 'firstchild' }, auth: { methods: ['cookie:sysauth_https', 'cookie:sysauth_http'], login: true }, children: {} };
  admin.children!.services = { title: 'Services', order: 40, action: { type: 'firstchild' }, children: {} };
  const root: MenuNode = { action: { type: 'firstchild' }, children: { admin } };
  const entries = JSON.parse(readFileSync(menuFile, 'utf8')) as Record<string, MenuNode>;
  for (const [path, spec] of Object.entries(entries)) {
    let node = root;
    for (const part of path.split('/').filter(Boolean)) node = (node.children ??= {})[part] ??= {};
    Object.assign(node, spec);
  }
  return root;
}

type AccessGroups = Record<string, string[]> | undefined;

/** dispatcher.uc check_acl_depends: null = a group is missing, false = read-only, true = writable. */
export function checkAclDepends(required: string[], groups: AccessGroups): boolean | null {
  if (!required.length) return true;
  let writable = false;
  for (const group of required) {
    const perms = groups?.[group] ?? [];
    if (!perms.includes('read') && !perms.includes('write')) return null;
    if (perms.includes('write')) writable = true;
  }
  return writable;
}

interface Resolved {
  node: MenuNode;
  path: string[];
  acls: string[];
}

/** dispatcher.uc resolve_firstchild: the child of lowest order this session may open. */
function firstChild(at: Resolved, groups: AccessGroups): Resolved | null {
  let best: Resolved | null = null;
  let bestOrder = Infinity;
  for (const [name, child] of Object.entries(at.node.children ?? {})) {
    if (!child.title || !child.action || checkAclDepends(child.depends?.acl ?? [], groups) === null) continue;
    const next = { node: child, path: [...at.path, name], acls: [...at.acls, ...(child.depends?.acl ?? [])] };
    const candidate = child.action.type === 'firstchild' ? firstChild(next, groups) : next;
    if (candidate && (child.order ?? 9999) < bestOrder) {
      best = candidate;
      bestOrder = child.order ?? 9999;
    }
  }
  return best;
}

/** Resource version like LuCI's: changes when the built app changes, so ?v= busts caches. */
function resourceVersion(): string {
  const app = join(HTDOCS, 'luci-static/resources/mailserver/app.js');
  return existsSync(app) ? Math.floor(statSync(app).mtimeMs).toString(36) : 'dev';
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers }).end(body);
}

function serveFile(res: ServerResponse, base: string, rel: string): void {
  const path = normalize(join(base, rel));
  if (!path.startsWith(base + sep) || !existsSync(path) || !statSync(path).isFile()) return send(res, 404, 'text/plain', 'Not Found\n');
  send(res, 200, MIME[extname(path)] ?? 'application/octet-stream', readFileSync(path));
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => done(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', fail);
  });
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

const LOGIN_FORM = (message: string | null, user: string) => `
<form class="cbi-map" id="login-form" method="post">
	<h2>Authorization Required</h2>
	<div class="cbi-map-descr">Please enter your username and password.</div>
	${message ? `<div class="alert-message error" id="login-error">${escapeHtml(message)}</div>` : ''}
	<div class="cbi-section">
		<div class="cbi-value"><label class="cbi-value-title" for="luci_username">Username</label><div class="cbi-value-field"><input type="text" name="luci_username" id="luci_username" autocomplete="username" value="${escapeHtml(user)}"></div></div>
		<div class="cbi-value"><label class="cbi-value-title" for="luci_password">Password</label><div class="cbi-value-field"><input type="password" name="luci_password" id="luci_password" autocomplete="current-password" autofocus></div></div>
	</div>
	<div class="cbi-page-actions"><button class="btn cbi-button cbi-button-positive important" type="submit" id="login-submit">Log in</button></div>
</form>`;

export async function startShell({ rpcd, port = 0, host = '127.0.0.1', menuFile = MENU_FILE }: ShellOptions): Promise<Shell> {
  /** Who logged in with each session (LuCI keeps it in the session's data), for the header. */
  const users = new Map<string, string>();
  /** The session's access groups (session.access without object), or null when it is not valid. */
  const sessionGroups = async (sid: string | undefined): Promise<Record<string, string[]> | null> => {
    if (!sid || !/^[0-9a-f]{32}$/.test(sid)) return null;
    const [status, acls] = await rpcd.call('', 'session', 'access', { ubus_rpc_session: sid });
    return status === 0 && acls ? ((acls as Record<string, Record<string, string[]>>)['access-group'] ?? {}) : null;
  };

  const page = (res: ServerResponse, status: number, opts: { env: object; view: string; menu?: string; user?: string; bodyClass?: string }, headers: Record<string, string> = {}) => {
    const env = { resource: '/luci-static/resources', resource_version: resourceVersion(), ubuspath: '/ubus/', rpctimeout: 20, ...opts.env };
    const html = readFileSync(join(HERE, 'index.html'), 'utf8')
      .replace('__SHELL_ENV__', JSON.stringify(env).replace(/</g, '\\u003c'))
      .replace('__BODY_CLASS__', opts.bodyClass ?? '')
      .replace('__MENU__', opts.menu ?? '')
      .replace('__USER__', escapeHtml(opts.user ?? ''))
      .replace('__VIEW__', opts.view);
    send(res, status, 'text/html; charset=utf-8', html, headers);
  };

  const dispatch = async (req: IncomingMessage, res: ServerResponse, requestPath: string[]): Promise<void> => {
    const tree = menuTree(menuFile);
    const here = `${LUCI_BASE_URL}/${requestPath.join('/')}`;
    if (requestPath.join('/') === 'admin/logout') {
      const sid = cookie(req, COOKIE);
      if (sid && (await sessionGroups(sid))) await rpcd.call('', 'session', 'destroy', { ubus_rpc_session: sid });
      return send(res, 302, 'text/plain', '', { Location: `${LUCI_BASE_URL}/`, 'Set-Cookie': `${COOKIE}=; path=${LUCI_BASE_URL}/; Max-Age=0` });
    }
    // Every page of ours is under `admin`, which requires a login; the root's first child is `admin`.
    if (requestPath.length && requestPath[0] !== 'admin') return send(res, 404, 'text/plain', `No page is registered at '/${requestPath.join('/')}'.\n`);
    let at: Resolved = { node: tree.children!.admin!, path: ['admin'], acls: [] };
    for (const part of requestPath.slice(1)) {
      const next = at.node.children?.[part];
      if (!next) return send(res, 404, 'text/plain', `No page is registered at '/${requestPath.join('/')}'.\n`);
      at = { node: next, path: [...at.path, part], acls: [...at.acls, ...(next.depends?.acl ?? [])] };
    }

    let sid = cookie(req, COOKIE);
    const groups = await sessionGroups(sid);
    if (!groups && req.method === 'POST') {
      const form = await readForm(req);
      const user = form.get('luci_username');
      const pass = form.get('luci_password');
      if (user !== null && pass !== null) {
        sid = (await rpcd.login(user, pass)) ?? undefined;
        if (sid) {
          users.set(sid, user);
          return send(res, 302, 'text/plain', '', { Location: here, 'Set-Cookie': `${COOKIE}=${sid}; path=${LUCI_BASE_URL}/; SameSite=strict; HttpOnly` });
        }
      }
      return page(res, 403, { env: {}, view: LOGIN_FORM('Invalid username and/or password! Please try again.', user ?? ''), bodyClass: 'shell-login' }, { 'X-LuCI-Login-Required': 'yes' });
    }
    if (!groups) return page(res, 403, { env: {}, view: LOGIN_FORM(null, 'admin'), bodyClass: 'shell-login' }, { 'X-LuCI-Login-Required': 'yes' });

    if (at.node.action?.type === 'firstchild') {
      const child = firstChild(at, groups);
      if (!child) return send(res, 404, 'text/plain', `No page is registered at '/${requestPath.join('/')}'.\n`);
      at = child;
    }
    const perm = checkAclDepends(at.acls, groups);
    if (perm === null) return send(res, 403, 'text/plain', 'Forbidden\n'); // LuCI sends the status alone; Chromium needs a body to show it
    if (at.node.action?.type !== 'view' || !at.node.action.path) return send(res, 404, 'text/plain', 'Not Found\n');

    const services = tree.children!.admin!.children!.services!.children ?? {};
    const menu = Object.entries(services)
      .filter(([, n]) => n.title && checkAclDepends(n.depends?.acl ?? [], groups) !== null)
      .sort(([, a], [, b]) => (a.order ?? 9999) - (b.order ?? 9999))
      .map(([name, n]) => {
        const path = `admin/services/${name}`;
        return `<li class="shell-crumb${path === at.path.join('/') ? ' active' : ''}"><a href="${LUCI_BASE_URL}/${path}" data-menu="${path}">${escapeHtml(n.title!)}</a></li>`;
      })
      .join('');
    const { children: _children, ...spec } = at.node;
    page(res, 200, {
      env: { sessionid: sid, nodespec: { ...spec, satisfied: true, readonly: !perm }, view: at.node.action.path, requestpath: requestPath, dispatchpath: at.path },
      view: '<div class="spinning">Loading view…</div>',
      menu,
      user: users.get(sid!) ?? '',
      bodyClass: 'shell-authenticated',
    });
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (path === '/ubus' || path.startsWith('/ubus/')) return rpcd.handleHttp(req, res);
    if (path === '/' || path === '/index.html') return send(res, 302, 'text/plain', '', { Location: `${LUCI_BASE_URL}/` });
    if (path === LUCI_BASE_URL || path.startsWith(`${LUCI_BASE_URL}/`)) {
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') return send(res, 405, 'text/plain', 'Method Not Allowed\n');
      const parts = path.slice(LUCI_BASE_URL.length).split('/').filter(Boolean);
      dispatch(req, res, parts).catch((e: unknown) => send(res, 500, 'text/plain', `${e instanceof Error ? e.message : String(e)}\n`));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'Method Not Allowed\n');
    if (path.startsWith('/luci-static/shell/')) return serveFile(res, HERE, path.slice('/luci-static/shell/'.length));
    if (path.startsWith('/luci-static/resources/')) return serveFile(res, join(HTDOCS, 'luci-static', 'resources'), path.slice('/luci-static/resources/'.length));
    if (path === '/favicon.ico') return send(res, 204, 'text/plain', '');
    send(res, 404, 'text/plain', 'Not Found\n');
  };
  const server = createServer(handler);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
