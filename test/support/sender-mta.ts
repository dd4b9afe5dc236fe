// A second, real Postfix as the sending side's MTA: an outside mail server that keeps in its
// queue what it cannot hand over and retries, as every MTA on the internet does. It has its own
// configuration, queue and log under a directory of the test's sandbox, sends from 127.0.0.2
// (loopback trust must not help it) as client.example.net to one next hop (our server), and retries every few seconds
// so that a test waits seconds, not Postfix's default five minutes. Mail goes in through its own
// sendmail, as a local program on that server would hand it over.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

export interface SenderMta {
  /** Hand a message to its sendmail; it goes on to the next hop, or waits in the queue. */
  send(message: { from: string; to: string; subject: string; body: string }): void;
  /** Its log (maillog_file). */
  log(): string;
  /** Messages waiting in its queue (postqueue -j). */
  queued(): number;
  stop(): void;
}

export interface SenderMtaOptions {
  /** Where its files go (created). */
  dir: string;
  /** `[address]:port` it hands every message to. */
  nexthop: string;
  /** Address it sends from (127.0.0.2). */
  source?: string;
  /** Its name, said in EHLO. */
  hostname?: string;
}

function postfix(args: string[], input?: string) {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', input, cwd: '/' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function startSenderMta(o: SenderMtaOptions): SenderMta {
  const config = join(o.dir, 'etc');
  const source = o.source ?? '127.0.0.2';
  // The test BIND's name of 127.0.0.2 (A and PTR agree).
  const hostname = o.hostname ?? 'client.example.net';
  mkdirSync(config, { recursive: true });
  // Postfix's own processes (user postfix) traverse it.
  chmodSync(o.dir, 0o755);
  // Postfix makes the queue's subdirectories, not the queue itself; its data directory is its own.
  mkdirSync(join(o.dir, 'queue'), { mode: 0o755 });
  mkdirSync(join(o.dir, 'data'), { mode: 0o700 });
  postfix(['chown', 'postfix', join(o.dir, 'data')]);
  const maillog = join(o.dir, 'maillog');
  writeFileSync(join(config, 'main.cf'), [
    'compatibility_level = 3.6',
    `queue_directory = ${join(o.dir, 'queue')}`,
    `data_directory = ${join(o.dir, 'data')}`,
    `maillog_file_prefixes = ${o.dir}`,
    `maillog_file = ${maillog}`,
    `myhostname = ${hostname}`,
    'mydestination =',
    'alias_maps =',
    'alias_database =',
    'local_transport = error:this server delivers nothing locally',
    // Its own address (Postfix refuses a next hop on one of its own): it only sends (master.cf
    // without smtpd), so nothing of it listens there.
    `inet_interfaces = ${source}`,
    'inet_protocols = ipv4',
    `smtp_bind_address = ${source}`,
    `relayhost = ${o.nexthop}`,
    'smtp_tls_security_level = may',
    'smtp_connect_timeout = 5s',
    // Retry within seconds (Postfix's defaults: minutes).
    'queue_run_delay = 2s',
    'minimal_backoff_time = 2s',
    'maximal_backoff_time = 4s',
    '',
  ].join('\n'));
  const master = readFileSync('/etc/postfix/master.cf', 'utf8').split('\n').filter((line) => !/^smtp\s+inet\s/.test(line));
  writeFileSync(join(config, 'master.cf'), master.join('\n'));
  // Postfix takes only an interface's address as its own: 127.0.0.2 becomes one (the test's
  // network namespace; a second add of it fails harmlessly).
  spawnSync('ip', ['addr', 'add', `${source}/8`, 'dev', 'lo']);
  postfix(['postfix', '-c', config, 'start']);
  return {
    send: (m) => {
      const text = [`From: ${m.from}`, `To: ${m.to}`, `Subject: ${m.subject}`, `Message-ID: <${Date.now()}.${process.pid}@${hostname}>`, '', m.body, ''].join('\n');
      postfix(['sendmail', '-C', config, '-f', m.from, '-i', '--', m.to], text);
    },
    log: () => {
      try {
        return readFileSync(maillog, 'utf8');
      } catch {
        return '';
      }
    },
    queued: () => postfix(['postqueue', '-c', config, '-j']).split('\n').filter((line) => line.startsWith('{')).length,
    stop: () => {
      spawnSync('postfix', ['-c', config, 'stop'], { cwd: '/' });
    },
  };
}
