// How this node reaches an SFTP peer: its own ed25519 key pair (secrets/mesh-ssh.key, made by
// `mesh enable`) and its own known_hosts (secrets/mesh-known_hosts), where the peer's host key is
// pinned at first contact (accept-new: `add-peer` on an enabled node, else the first push); every
// later connection requires that same key (StrictHostKeyChecking=yes), never asks (BatchMode)
// and never reads ~/.ssh.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import { SECRETS_DIR_MODE, type Layout } from '../core/layout.ts';
import { ensureDir, exists, readText, removeFile } from '../sys/fs.ts';
import { run, runAsync } from '../sys/spawn.ts';

export const sshKeyFile = (l: Layout) => join(l.secretsDir, 'mesh-ssh.key');
export const knownHostsFile = (l: Layout) => join(l.secretsDir, 'mesh-known_hosts');

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/** `[user@]host[:port]` or `user@[v6]:port` (what peers.ts resolves an SFTP peer to). */
export function parseSshTarget(target: string): SshTarget {
  const m = /^(?:([a-z_][a-z0-9_-]*)@)?(\[[0-9A-Fa-f:.]+\]|[^:@[\]]+)(?::(\d+))?$/.exec(target);
  if (!m) throw new MailError('invalid_argument', `${target} is not [user@]host[:port]`, 'peer');
  return { user: m[1] ?? 'root', host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : 22 };
}

/** The node's public key (what the peer's owner puts in authorized_keys), made now when missing. */
export function ensureSshKey(l: Layout, node: string): string {
  const key = sshKeyFile(l);
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE });
  if (!exists(key)) {
    // A half-written pair (killed ssh-keygen) is made again; ssh-keygen writes the key 0600.
    removeFile(`${key}.pub`);
    const r = run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `secubox-mailserver@${node}`, '-f', key]);
    if (r.code !== 0) throw new MailError('daemon_error', `ssh-keygen could not make the mesh key: ${(r.stderr || r.stdout).trim()}`);
  }
  return sshPublicKey(l) ?? '';
}

export const sshPublicKey = (l: Layout) => readText(`${sshKeyFile(l)}.pub`)?.trim() ?? null;

/**
 * The ssh command line that opens an SFTP session to the peer. restic splits sftp.command on
 * spaces (quotes aside), so our paths must not hold any: data_path is validated without them.
 */
export function sftpCommand(l: Layout, t: SshTarget, hostKeys: 'pinned' | 'pin-now' = isPinned(l, t) ? 'pinned' : 'pin-now'): string[] {
  return [
    'ssh',
    '-F', '/dev/null',
    '-i', sshKeyFile(l),
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile(l)}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `StrictHostKeyChecking=${hostKeys === 'pinned' ? 'yes' : 'accept-new'}`,
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=15',
    '-o', 'ServerAliveInterval=15',
    '-p', String(t.port),
    '-l', t.user,
    t.host,
    '-s', 'sftp',
  ];
}

/** What ssh's complaint means for the owner; null when it is not about the connection. */
export function sshProblem(stderr: string, peer: string): string | null {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key for .* has changed/i.test(stderr)) {
    return `the host key of ${peer} is not the one pinned when it was added (someone in between, or the peer was reinstalled): if the peer really changed, \`mailctl mesh remove-peer\` and \`add-peer\` it again`;
  }
  if (/No .*host key is known|Host key .* not (known|found)/i.test(stderr)) return `no host key of ${peer} is pinned: \`mailctl mesh remove-peer\` and \`add-peer\` it again`;
  if (/Permission denied/i.test(stderr)) return `${peer} refused this node's key: add the public key (\`mailctl mesh peers\`) to its authorized_keys`;
  if (/Connection refused|timed out|No route to host|Could not resolve|Network is unreachable|Connection closed|Connection reset/i.test(stderr)) return `${peer} is unreachable (${stderr.trim().split('\n').pop()})`;
  return null;
}

/** known_hosts names a non-standard port `[host]:port`. */
const knownHostName = (t: SshTarget) => (t.port === 22 ? t.host : `[${t.host}]:${t.port}`);

/** Whether a host key of the peer is in our known_hosts. */
export function isPinned(l: Layout, t: SshTarget): boolean {
  if (!exists(knownHostsFile(l))) return false;
  return run(['ssh-keygen', '-F', knownHostName(t), '-f', knownHostsFile(l)]).code === 0;
}

/**
 * Connect once, accepting and pinning the peer's host key if none is pinned for it yet; an
 * already pinned, different key is refused. An unreachable peer is pinned at its first push.
 * Authentication may still fail (the peer's owner may not have authorized our key yet): the
 * host key is pinned before that.
 */
export function pinHostKey(l: Layout, peer: string, t: SshTarget): string {
  const r = run(sftpCommand(l, t, 'pin-now'), { timeoutMs: 30_000 });
  const problem = sshProblem(r.stderr, peer);
  if (problem && /host key/.test(problem)) throw new MailError('daemon_error', problem, 'peer');
  if (isPinned(l, t)) return `host key pinned in ${knownHostsFile(l)}${problem ? `; ${problem}` : ''}`;
  return `host key not pinned yet (${problem ?? (r.stderr.trim().split('\n').pop() || `ssh exited ${r.code}`)}): the first push pins it`;
}

/** Reachable and accepting our key, with the pinned host key. */
export async function probePeer(l: Layout, peer: string, t: SshTarget): Promise<{ reachable: boolean; error?: string }> {
  // The page asks on load (LuCI waits 20 s): an answer within seconds, or unreachable. ssh takes
  // the first value given for an option, so this ConnectTimeout wins.
  const [ssh, ...rest] = sftpCommand(l, t);
  const r = await runAsync([ssh!, '-o', 'ConnectTimeout=5', ...rest], { timeoutMs: 8_000 });
  if (r.code === 0) return { reachable: true };
  return { reachable: false, error: sshProblem(r.stderr, peer) ?? (r.stderr.trim().split('\n').pop() || `ssh exited ${r.code}`) };
}
