// The local stand-in for a router's uhttpd + LuCI: serves the shell page (index.html, luci.js,
// shell.css), /luci-static/resources/ from luci-app/htdocs (our view and the built app) with
// uhttpd's MIME types, and hands POST /ubus to the rpcd emulator (test/support/rpcd-emulator.ts).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Rpcd } from '../rpcd-emulator.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..', '..');
export const HTDOCS = join(REPO, 'luci-app', 'htdocs');

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
  /** The view path as the menu.d entry names it. */
  view?: string;
}

/** Like LuCI's resource_version: changes when the built app changes, so ?v= busts caches. */
function resourceVersion(): string {
  const app = join(HTDOCS, 'luci-static/resources/mailserver/app.js');
  return existsSync(app) ? Math.floor(statSync(app).mtimeMs).toString(36) : 'dev';
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }).end(body);
}

function serveFile(res: ServerResponse, base: string, rel: string): void {
  const path = normalize(join(base, rel));
  if (!path.startsWith(base + sep) || !existsSync(path) || !statSync(path).isFile()) return send(res, 404, 'text/plain', 'Not Found\n');
  send(res, 200, MIME[extname(path)] ?? 'application/octet-stream', readFileSync(path));
}

export async function startShell({ rpcd, port = 0, host = '127.0.0.1', view = 'mailserver/main' }: ShellOptions): Promise<Shell> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (path === '/ubus' || path.startsWith('/ubus/')) return rpcd.handleHttp(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'Method Not Allowed\n');
    if (path === '/' || path === '/index.html') {
      const env = { resource: '/luci-static/resources', resource_version: resourceVersion(), ubuspath: '/ubus/', rpctimeout: 20, view };
      const html = readFileSync(join(HERE, 'index.html'), 'utf8').replace('__SHELL_ENV__', JSON.stringify(env).replace(/</g, '\\u003c'));
      return send(res, 200, 'text/html; charset=utf-8', html);
    }
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
