// Failed logins as Dovecot's auth process logs them with auth_verbose=yes. Postfix asks Dovecot's
// auth for SMTP AUTH and passes the client address (rip), so these lines cover SMTP AUTH, IMAP,
// POP3 and ManageSieve alike, e.g.
//   Dec 02 01:02:03 auth: Info: passwd-file(anna@example.com,198.51.100.7,<Gh5x>): Password mismatch
//   Dec 02 01:02:04 auth: Info: passwd-file(nobody@example.com,198.51.100.7): unknown user
import { isIP } from '../sys/ip.ts';

export interface Failure {
  address: string;
  /** ms since the epoch. */
  at: number;
}

const FAILURE = /\bauth: Info: [a-z0-9_-]+\((?:[^,()]*),([0-9A-Fa-f.:]+)(?:,<[^>]*>)?\): (?:Password mismatch|unknown user)\b/;
const STAMP = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) /;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Dovecot's default log_timestamp ("%b %d %H:%M:%S ") has no year: the latest one not in the future. */
function stampOf(line: string, now: number): number {
  const m = STAMP.exec(line);
  const month = m ? MONTHS.indexOf(m[1]!) : -1;
  if (!m || month < 0) return now;
  const d = new Date(now);
  const at = new Date(d.getFullYear(), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])).getTime();
  return at > now + 60_000 ? new Date(d.getFullYear() - 1, month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])).getTime() : at;
}

export function parseFailure(line: string, now = Date.now()): Failure | null {
  const m = FAILURE.exec(line);
  if (!m || isIP(m[1]!) === 0) return null;
  return { address: m[1]!.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1'), at: stampOf(line, now) };
}

/** N failures of one address within the window → that address is due for a ban (once). */
export class FailureWindow {
  private readonly seen = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** True when this failure makes the address reach the limit; its count starts over. */
  add(f: Failure): boolean {
    const since = f.at - this.windowMs;
    const times = (this.seen.get(f.address) ?? []).filter((t) => t > since);
    times.push(f.at);
    if (times.length >= this.maxFailures) {
      this.seen.delete(f.address);
      return true;
    }
    this.seen.set(f.address, times);
    return false;
  }

  /** Forget addresses with nothing inside the window (a long-running watcher stays small). */
  prune(now: number): void {
    for (const [address, times] of this.seen) if (times.every((t) => t <= now - this.windowMs)) this.seen.delete(address);
  }
}
