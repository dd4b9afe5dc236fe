// DNS helpers for the system tests: ask the test BIND with dig, change it behind mailctl's back
// with nsupdate, edit the UCI file, and put the fake dnsctl on PATH.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ok } from './mailctl.ts';

export const FAKE_DNSCTL = join(dirname(fileURLToPath(import.meta.url)), 'fake-dnsctl');

/** Values of one RRset as the test BIND serves them (TXT strings joined). */
export function dig(name: string, type: string): string[] {
  const r = spawnSync('dig', ['+short', '+time=2', '+tries=1', '@127.0.0.1', name, type], { encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(';'));
  return type === 'TXT' ? lines.map((l) => [...l.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1')).join('')) : lines;
}

/** An RFC 2136 update straight to the test BIND (what someone else or a broken tool did). */
export function nsupdate(zone: string, lines: string[]): void {
  const script = ['server 127.0.0.1', `zone ${zone}.`, ...lines, 'send', ''].join('\n');
  const r = spawnSync('nsupdate', ['-v', '-k', process.env.TEST_TSIG_KEYFILE!], { input: script, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nsupdate: ${r.stderr}`);
}

/** The secret of the test's TSIG key. */
export function testTsigSecret(): string {
  return /secret "([^"]+)"/.exec(readFileSync(process.env.TEST_TSIG_KEYFILE!, 'utf8'))![1]!;
}

/** Set (or with null remove) an option in /etc/config/mailserver, adding the section if needed. */
export function setUci(root: string, section: string, option: string, value: string | null): void {
  const file = join(root, 'etc/config/mailserver');
  const lines = readFileSync(file, 'utf8').split('\n');
  let start = lines.findIndex((l) => new RegExp(`^config \\S+ '${section}'$`).test(l));
  if (start < 0) {
    lines.push('', `config ${section} '${section}'`);
    start = lines.length - 1;
  }
  let end = start + 1;
  while (end < lines.length && !lines[end]!.startsWith('config ')) end++;
  const i = lines.slice(start + 1, end).findIndex((l) => new RegExp(`^\\s*option ${option} `).test(l));
  if (i >= 0) lines.splice(start + 1 + i, 1);
  if (value !== null) lines.splice(start + 1, 0, `\toption ${option} '${value}'`);
  writeFileSync(file, lines.join('\n'));
}

/** A directory holding `dnsctl` → the fake, to put first on PATH. */
export function fakeDnsctlPath(dir: string): string {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'dnsctl'))) symlinkSync(FAKE_DNSCTL, join(dir, 'dnsctl'));
  return dir;
}

/**
 * DKIM with RSA and Ed25519 keys published by nsupdate into the test BIND (its TSIG key), so a
 * verifier resolving through it checks real signatures; no remote Rspamd maps.
 */
export function signForTestBind(root: string): void {
  setUci(root, 'main', 'public_ip', '192.0.2.10');
  setUci(root, 'features', 'spam_remote', '0');
  setUci(root, 'dns', 'provider', 'nsupdate');
  setUci(root, 'dns', 'server', '127.0.0.1');
  setUci(root, 'dns', 'wait', '5');
  setUci(root, 'dns', 'dkim_algorithms', 'rsa ed25519');
  ok(root, ['dns', 'key-set', process.env.TEST_TSIG_KEYNAME!, '--password-stdin'], `${testTsigSecret()}\n`);
}
