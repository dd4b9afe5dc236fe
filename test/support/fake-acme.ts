// A CA that answers like Let's Encrypt does when a rate limit is hit: directory, nonce and
// account work, every new order gets HTTP 429 with an RFC 8555 rateLimited problem document and
// Retry-After. Pebble has no rate limits; this is how the tests see the product relay the CA's
// own words. Served over HTTPS by the tests' TLS CA (see pebble.ts), reached only through its
// directory URL like any CA.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { serverCertificate, type TestTls } from './pebble.ts';

export const RATE_LIMIT_DETAIL = 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2031-01-01 00:00:00 UTC';

export interface FakeCa {
  directory: string;
  orders: number;
  close(): Promise<void>;
}

export async function startRateLimitedCa(tls: TestTls, port: number): Promise<FakeCa> {
  const { cert, key } = serverCertificate(tls, `fake-ca-${port}`);
  const base = `https://127.0.0.1:${port}`;
  let nonce = 0;
  const state = { orders: 0 };
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('Replay-Nonce', `fake-nonce-${++nonce}`);
      res.setHeader('Cache-Control', 'no-store');
      const json = (status: number, body: object, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      switch (req.url) {
        case '/dir':
          return json(200, { newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order`, revokeCert: `${base}/revoke`, keyChange: `${base}/key-change` });
        case '/nonce':
          res.writeHead(req.method === 'HEAD' ? 200 : 204);
          return res.end();
        case '/account':
          return json(201, { status: 'valid', orders: `${base}/orders` }, { Location: `${base}/acct/1` });
        case '/acct/1':
          return json(200, { status: 'valid', orders: `${base}/orders` });
        case '/order':
          state.orders++;
          return json(429, { type: 'urn:ietf:params:acme:error:rateLimited', detail: RATE_LIMIT_DETAIL, status: 429 }, { 'Retry-After': '86400' });
        default:
          return json(404, { type: 'urn:ietf:params:acme:error:malformed', detail: 'not found', status: 404 });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    directory: `${base}/dir`,
    get orders() {
      return state.orders;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
