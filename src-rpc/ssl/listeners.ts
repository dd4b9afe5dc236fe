// Which certificate each TLS listener of the running daemons presents, compared with the file.
import { probeCertificate, type TlsStart } from '../sys/tls-probe.ts';
import { mailHost, type Settings, type PortName } from '../config/settings.ts';

/** Every TLS listener: STARTTLS on the plain ports, TLS at once on the others. */
const LISTENERS: readonly [PortName, TlsStart][] = [
  ['smtp', 'smtp'],
  ['submission', 'smtp'],
  ['smtps', 'implicit'],
  ['imap', 'imap'],
  ['imaps', 'implicit'],
  ['pop3', 'pop3'],
  ['pop3s', 'implicit'],
  ['sieve', 'sieve'],
];

export interface ListenerCertificate {
  name: PortName;
  port: number;
  tls: 'starttls' | 'implicit';
  /** What the daemon presents; null when it could not be asked. */
  fingerprint256: string | null;
  /** match: presents the file's certificate; differs: another one (not reloaded?); unreachable: see error. */
  state: 'match' | 'differs' | 'unreachable';
  error?: string;
}

export async function listenerCertificates(s: Settings, fileFingerprint: string | null, timeoutMs = 4000): Promise<ListenerCertificate[]> {
  const host = s.main.listen[0] ?? '127.0.0.1';
  const servername = mailHost(s);
  const enabled = LISTENERS.filter(([name]) => s.ports[name] !== 0);
  return Promise.all(
    enabled.map(async ([name, start]) => {
      const port = s.ports[name];
      const r = await probeCertificate({ host, port, start, servername, timeoutMs });
      const tls = start === 'implicit' ? ('implicit' as const) : ('starttls' as const);
      if (!r.ok) return { name, port, tls, fingerprint256: null, state: 'unreachable' as const, error: r.error };
      return { name, port, tls, fingerprint256: r.fingerprint256, state: r.fingerprint256 === fileFingerprint ? ('match' as const) : ('differs' as const) };
    }),
  );
}

/**
 * After a reload, Postfix's old smtpd processes finish their sessions before new ones (with the
 * new certificate) take over: ask again until every reachable listener matches, or time is up.
 */
export async function waitForListeners(s: Settings, fingerprint: string, timeoutMs = 10_000): Promise<ListenerCertificate[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await listenerCertificates(s, fingerprint);
    if (states.every((l) => l.state !== 'differs') || Date.now() > deadline) return states;
    await new Promise((r) => setTimeout(r, 300));
  }
}
