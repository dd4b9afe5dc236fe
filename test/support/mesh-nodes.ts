// Two mail nodes in one test: what both mesh test files need to compare a node's data before and
// after a restore, fill mailboxes, and write hostile archives.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chownSync, lstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, runMailClient, waitForPort } from './sandbox.ts';
import { MAILCTL, ok, writeConfig } from './mailctl.ts';

export const H = '127.0.0.1';
/** In every message body: a backup or repository that shows it holds mail in clear. */
export const TOKEN = `ZEBRA${randomBytes(6).toString('hex')}`;
export const USERS = [
  { email: 'alice@example.com', password: 'alice-pass-1', messages: 300 },
  { email: 'bob@example.com', password: 'bob-pass-22', messages: 150 },
  { email: 'carol@example.com', password: 'carol-pass-333', messages: 50 },
];

export const json = (root: string, args: string[], input = '') => JSON.parse(ok(root, [...args, '--json'], input).stdout);

/** mailctl for the long jobs (backup, restore): on a busy machine they outlast ok()'s 2 minutes. */
export function slow(root: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(MAILCTL, args, { env: { ...process.env, MAILSERVER_ROOT: root }, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A long job that must succeed; its --json result. */
export function slowJson(root: string, args: string[]) {
  const r = slow(root, [...args, '--json']);
  if (r.code !== 0) throw new Error(`mailctl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return JSON.parse(r.stdout);
}
export const data = (root: string, ...p: string[]) => join(root, 'srv/mailserver', ...p);

export interface FileState {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  target?: string;
}

/**
 * Every entry under the data_path folders a backup holds: type, mode, owner and content hash.
 * In maildirs, Dovecot's own index files are left out and a message is keyed by its unique base
 * name, not by new/ or cur/ and flags: Dovecot moves it from new/ to cur/ when it first looks.
 */
export function snapshot(root: string, folders = ['config', 'secrets', 'ssl', 'mail']): Map<string, FileState> {
  const out = new Map<string, FileState>();
  const walk = (rel: string) => {
    const path = data(root, rel);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return;
    const name = rel.split('/').pop()!;
    if (rel.startsWith('mail/') && name.startsWith('dovecot')) return;
    const state: FileState = { type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isFile()) state.sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
    if (st.isSymbolicLink()) state.target = readlinkSync(path);
    const message = /^(mail\/.*)\/(?:cur|new)\/([^:/]+)(?::[^/]*)?$/.exec(rel);
    out.set(message ? `${message[1]}/message ${message[2]}` : rel, state);
    if (st.isDirectory()) for (const n of readdirSync(path).sort()) walk(`${rel}/${n}`);
  };
  for (const f of folders) walk(f);
  return out;
}

export function differences(a: Map<string, FileState>, b: Map<string, FileState>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k))).sort();
}

/** Files converge writes from the settings (they hold each root's own paths), not data. */
export const rendered = (path: string) => /^config\/(postfix|dovecot|opendkim|rspamd)(\/|$)/.test(path) || /^config\/[^/]+\.(cdb|lmdb|db)$/.test(path);

/** A Dovecot-named maildir file straight into new/ (as LMTP would leave it). */
export function writeMessages(root: string, email: string, count: number): void {
  const [local, domain] = email.split('@') as [string, string];
  const dir = data(root, 'mail', domain, local, 'new');
  for (let i = 0; i < count; i++) {
    const body = `Message ${i} for ${email}. ${TOKEN} ${'lorem ipsum dolor sit amet '.repeat(400 + (i % 7) * 50)}\n`;
    const raw = `From: sender@example.net\nTo: ${email}\nSubject: filler ${i}\nMessage-ID: <${i}.${local}@example.net>\n\n${body}`;
    const name = `${1_700_000_000 + i}.M${i}P1.mesh-test,S=${Buffer.byteLength(raw)}`;
    writeFileSync(join(dir, name), raw, { mode: 0o600 });
    chownSync(join(dir, name), 5000, 5000);
  }
}

export const imapCount = async (user: { email: string; password: string }, port: number) => {
  const r = await runMailClient({ action: 'imap_fetch', host: H, port, tls: 'starttls', user: user.email, password: user.password });
  return r.ok ? r.messages.length : -1;
};

export /** A plain tar whose entries python's tarfile writes exactly as told (hostile names, links). */
function craftTar(path: string, entries: { name: string; data?: string; symlink?: string; dir?: boolean }[]): void {
  const code = `
import sys, json, tarfile, io
spec = json.loads(sys.stdin.read())
with tarfile.open(spec['path'], 'w', format=tarfile.PAX_FORMAT) as t:
    for e in spec['entries']:
        i = tarfile.TarInfo(e['name'])
        if e.get('symlink'):
            i.type = tarfile.SYMTYPE; i.linkname = e['symlink']; t.addfile(i)
        elif e.get('dir'):
            i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
        else:
            b = e.get('data', '').encode(); i.size = len(b); i.mode = 0o644; t.addfile(i, io.BytesIO(b))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify({ path, entries }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`craft tar: ${r.stderr}`);
}

/** Which DKIM signatures of a message verify (python3-dkim, DNS answered from `records`). */
export function dkimVerify(raw: string, records: Record<string, string>): boolean[] {
  const code = `
import sys, json, dkim, email
data = json.loads(sys.stdin.read())
msg = data['raw'].encode()
records = data['records']
def dns(name, timeout=5):
    v = records.get(name.decode().rstrip('.'))
    return v.encode() if v else None
heads = email.message_from_bytes(msg).get_all('DKIM-Signature') or []
print(json.dumps([bool(dkim.DKIM(msg).verify(idx=i, dnsfunc=dns)) for i in range(len(heads))]))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: JSON.stringify({ raw, records }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dkim verify: ${r.stderr}`);
  return JSON.parse(r.stdout) as boolean[];
}

/** A node's published DKIM records, name → value. */
export function dkimRecords(root: string): Record<string, string> {
  const keys = json(root, ['dkim', 'show']).keys as { record: { name: string; value: string } }[];
  return Object.fromEntries(keys.map((k) => [k.record.name.replace(/\.$/, ''), k.record.value]));
}

/**
 * alice sends to bob through the node's submission port; bob's copy, fetched over IMAP, is
 * checked with python3-dkim against `records`: one verdict per DKIM-Signature header.
 */
export async function signedVerdicts(ports: { submission: number; imap: number }, records: Record<string, string>): Promise<boolean[]> {
  const [from, to] = [USERS[0]!, USERS[1]!];
  const subject = `signed ${TOKEN} ${randomBytes(4).toString('hex')}`;
  const sent = await runMailClient({ action: 'send', host: H, port: ports.submission, tls: 'starttls', user: from.email, password: from.password, from: from.email, to: [to.email], subject, body: 'hello' });
  if (!sent.ok) throw new Error(`sending failed: ${JSON.stringify(sent)}`);
  let raw = '';
  const arrived = await eventually(async () => {
    const box = await runMailClient({ action: 'imap_fetch', host: H, port: ports.imap, tls: 'starttls', user: to.email, password: to.password });
    raw = (box.ok && box.messages.find((m) => m.subject === subject)?.raw) || '';
    return raw !== '';
  }, 20_000, 500);
  if (!arrived) throw new Error('the signed message did not arrive');
  return dkimVerify(raw, records);
}

/**
 * Node A (the router that dies: 3 mailboxes, an alias, DKIM, 500 messages, default ports) and
 * node B (the one that restores, on `portsOfB`, with a mailbox of its own). Both would run
 * OpenDKIM on its fixed loopback port: B signs only once A's settings arrive, and A is stopped
 * before B restores.
 */
export async function startTwoNodes(A: string, B: string, portsOfB: { imap: number } & Record<string, number>): Promise<void> {
  writeConfig(A, { dkim: true, spamFilter: false });
  ok(A, ['start']);
  await waitForPort(H, 143, 15_000);
  for (const u of USERS) ok(A, ['user', 'add', u.email, '--password-stdin'], `${u.password}\n`);
  ok(A, ['alias', 'add', 'team@example.com', 'alice@example.com,bob@example.com']);
  for (const u of USERS) writeMessages(A, u.email, u.messages);
  writeConfig(B, { ports: portsOfB });
  ok(B, ['start']);
  await waitForPort(H, portsOfB.imap, 15_000);
  ok(B, ['user', 'add', 'zed@example.com', '--password-stdin'], 'zed-pass-4444\n');
}
