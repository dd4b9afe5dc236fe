// One plain HTTP GET with a deadline, no redirects followed, body capped: enough to see whether
// a web application answers and what its page says.
import type { ClientRequest } from 'node:http';

export type HttpAnswer = { ok: true; status: number; body: string } | { ok: false; error: string };

const MAX_BODY = 256 * 1024;

export async function httpGet(url: string, timeoutMs = 5000): Promise<HttpAnswer> {
  // Loaded here, not at start: every other call of the plugin would pay for parsing node:http(s).
  const { request } = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    let req: ClientRequest;
    try {
      req = request(url, { method: 'GET', headers: { accept: 'text/html' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (body.length < MAX_BODY) body += d;
        });
        res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, body }));
        res.on('error', (e) => resolve({ ok: false, error: e.message }));
      });
    } catch (e) {
      return resolve({ ok: false, error: (e as Error).message });
    }
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', (e) => resolve({ ok: false, error: (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'connection refused' : e.message }));
    req.end();
  });
}
