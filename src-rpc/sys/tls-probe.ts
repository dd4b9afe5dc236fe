// What certificate does a running listener present? Connect, speak just enough of its protocol
// to reach TLS (SMTP EHLO/STARTTLS, IMAP STARTTLS, POP3 STLS, ManageSieve STARTTLS, or TLS at
// once), finish the handshake without judging the certificate, and read the leaf's fingerprint.
import { connect as netConnect, type Socket } from 'node:net';

export type TlsStart = 'implicit' | 'smtp' | 'imap' | 'pop3' | 'sieve';

export interface ProbeTarget {
  host: string;
  port: number;
  start: TlsStart;
  /** Sent as SNI. */
  servername?: string;
  /** Whole probe, connect to handshake. Default 5000 ms. */
  timeoutMs?: number;
}

export type ProbeResult = { ok: true; fingerprint256: string; protocol: string } | { ok: false; error: string };

/** A line-oriented reader over a plain socket, for the few exchanges before STARTTLS. */
function lineReader(socket: Socket) {
  let buffer = '';
  const waiting: { test: (line: string) => boolean; resolve: (lines: string[]) => void; lines: string[] }[] = [];
  const feed = () => {
    let nl: number;
    while (waiting.length && (nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      const w = waiting[0]!;
      w.lines.push(line);
      if (w.test(line)) {
        waiting.shift();
        w.resolve(w.lines);
      }
    }
  };
  const onData = (d: Buffer) => {
    buffer += d.toString('latin1');
    if (buffer.length > 65536) socket.destroy(new Error('the server sent too much before TLS'));
    feed();
  };
  socket.on('data', onData);
  return {
    /** Lines up to and including the first one that passes `test`. */
    until(test: (line: string) => boolean): Promise<string[]> {
      return new Promise((resolve) => {
        waiting.push({ test, resolve, lines: [] });
        feed();
      });
    },
    detach() {
      socket.off('data', onData);
      // Anything after the STARTTLS answer belongs to TLS; a server never sends it first.
      buffer = '';
    },
  };
}

function expect(lines: string[], ok: (last: string) => boolean, what: string): void {
  const last = lines[lines.length - 1] ?? '';
  if (!ok(last)) throw new Error(`${what}: ${last.slice(0, 200) || 'no answer'}`);
}

async function startTls(socket: Socket, start: Exclude<TlsStart, 'implicit'>): Promise<void> {
  const r = lineReader(socket);
  const send = (line: string) => socket.write(`${line}\r\n`);
  switch (start) {
    case 'smtp': {
      const finalReply = (l: string) => /^\d{3}( |$)/.test(l);
      expect(await r.until(finalReply), (l) => l.startsWith('220'), 'SMTP greeting');
      send('EHLO mailctl.invalid');
      const ehlo = await r.until(finalReply);
      expect(ehlo, (l) => l.startsWith('250'), 'EHLO');
      if (!ehlo.some((l) => /^250[- ]STARTTLS\b/i.test(l))) throw new Error('the server does not offer STARTTLS');
      send('STARTTLS');
      expect(await r.until(finalReply), (l) => l.startsWith('220'), 'STARTTLS');
      break;
    }
    case 'imap': {
      expect(await r.until(() => true), (l) => /^\* (OK|PREAUTH)\b/i.test(l), 'IMAP greeting');
      send('a STARTTLS');
      expect(await r.until((l) => /^a /i.test(l)), (l) => /^a OK\b/i.test(l), 'STARTTLS');
      break;
    }
    case 'pop3': {
      expect(await r.until(() => true), (l) => l.startsWith('+OK'), 'POP3 greeting');
      send('STLS');
      expect(await r.until(() => true), (l) => l.startsWith('+OK'), 'STLS');
      break;
    }
    case 'sieve': {
      const done = (l: string) => /^(OK|NO|BYE)\b/i.test(l);
      expect(await r.until(done), (l) => /^OK\b/i.test(l), 'ManageSieve greeting');
      send('STARTTLS');
      expect(await r.until(done), (l) => /^OK\b/i.test(l), 'STARTTLS');
      break;
    }
  }
  r.detach();
}

/** Never rejects: a listener that is down or refuses TLS comes back as { ok: false, error }. */
export async function probeCertificate(t: ProbeTarget): Promise<ProbeResult> {
  // Loaded here, not at start: most calls never probe, and every call pays for what loads at start.
  const { connect: tlsConnect } = await import('node:tls');
  return new Promise((resolve) => {
    const sockets: Socket[] = [];
    let settled = false;
    const finish = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Only the outermost socket: a TLS socket closes the plain one under it itself, and
      // destroying the plain one first crashes Node (use after free in the TLS wrap).
      sockets[sockets.length - 1]?.destroy();
      resolve(r);
    };
    const fail = (e: unknown) => finish({ ok: false, error: e instanceof Error ? e.message : String(e) });
    const timer = setTimeout(() => fail(new Error(`no TLS handshake within ${t.timeoutMs ?? 5000} ms`)), t.timeoutMs ?? 5000);
    const handshake = (socket?: Socket) => {
      if (settled) return;
      const tls = tlsConnect({
        ...(socket ? { socket } : { host: t.host, port: t.port }),
        servername: t.servername,
        // We ask what is presented, whoever signed it; trust is judged by comparing fingerprints.
        rejectUnauthorized: false,
      });
      sockets.push(tls);
      tls.once('error', fail);
      tls.once('secureConnect', () => {
        const cert = tls.getPeerX509Certificate();
        if (!cert) return fail(new Error('the server presented no certificate'));
        finish({ ok: true, fingerprint256: cert.fingerprint256, protocol: tls.getProtocol() ?? '' });
      });
    };
    if (t.start === 'implicit') return handshake();
    const plain = netConnect({ host: t.host, port: t.port });
    sockets.push(plain);
    plain.once('error', fail);
    plain.once('connect', () => {
      startTls(plain, t.start as Exclude<TlsStart, 'implicit'>).then(() => handshake(plain), fail);
    });
  });
}
