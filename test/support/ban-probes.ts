// What a banned client notices, from a chosen source address: whether an IMAP login succeeds,
// fails or is refused, and whether a TCP connection is accepted at all (a ban resets it).
import { connect } from 'node:net';
import { runMailClient } from './sandbox.ts';

export async function imapLogin(host: string, user: string, source: string, password: string): Promise<'ok' | 'failed' | 'refused'> {
  const r = await runMailClient({ action: 'imap_login', host, port: 143, tls: 'starttls', user, password, source });
  if (r.ok) return 'ok';
  return r.code === 'AUTHENTICATIONFAILED' || /authenticat/i.test(r.error) ? 'failed' : 'refused';
}

/** Whether a TCP connection from `source` to `port` is accepted and greeted. */
export function connects(host: string, source: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, localAddress: source, timeout: 3000 });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('data', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
    s.once('close', () => done(false));
  });
}
