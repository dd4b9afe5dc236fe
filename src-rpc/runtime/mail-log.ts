// What Postfix's mail.log says about one message: found by its Message-ID (cleanup logs it
// beside the queue id), then the last delivery attempt's status with Postfix's reason, and the
// certificate complaints the same smtp process logged for that attempt (why a relay was refused).
export interface DeliveryOutcome {
  queueId: string | null;
  /** sent, deferred, bounced, expired; null while no attempt is logged. */
  status: string | null;
  /** Postfix's explanation, e.g. "Server certificate not verified". */
  reason: string | null;
  /** e.g. "certificate verification failed for relay.example.net[192.0.2.1]:587: self-signed certificate". */
  tls: string[];
}

const TLS_TROUBLE = /certificate verification failed|Untrusted TLS connection|server certificate|TLS is required|TLS library problem/i;

export function deliveryOutcome(log: string, messageId: string): DeliveryOutcome {
  const out: DeliveryOutcome = { queueId: null, status: null, reason: null, tls: [] };
  const lines = log.split('\n');
  for (const line of lines) {
    const m = /\]: ([0-9A-Za-z]+): message-id=(\S+)$/.exec(line);
    if (m && m[2] === messageId) out.queueId = m[1]!;
  }
  if (out.queueId === null) return out;
  let last = -1;
  for (let i = 0; i < lines.length; i++) {
    const d = new RegExp(`\\]: ${out.queueId}: to=<[^>]*>,.* status=(\\w+) \\((.*)\\)$`).exec(lines[i]!);
    if (d) [last, out.status, out.reason] = [i, d[1]!, d[2]!];
  }
  const process = last < 0 ? null : /^.*? (postfix\S*\[\d+\]): /.exec(lines[last]!)?.[1];
  if (process) {
    // The attempt's own lines: the same process, back to its previous delivery.
    for (let i = last - 1; i >= 0; i--) {
      const line = lines[i]!;
      if (!line.includes(` ${process}: `)) continue;
      if (/ status=/.test(line)) break;
      if (TLS_TROUBLE.test(line)) out.tls.unshift(line.slice(line.indexOf(`${process}: `) + process.length + 2));
    }
  }
  return out;
}
