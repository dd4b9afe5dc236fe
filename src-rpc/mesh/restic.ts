// Running restic against one peer's repository for one node: the repository is
// `secubox-mailserver/<node>` under the peer's SFTP home (or under a REST URL), reached with our
// own ssh command line (ssh.ts). The password travels in a file (RESTIC_PASSWORD_FILE) or on
// stdin, never on argv; restic's --json output is what we read.
import { join } from 'node:path';
import { MailError } from '../core/errors.ts';
import type { Layout } from '../core/layout.ts';
import { run, runAsync, type RunResult } from '../sys/spawn.ts';
import { ensureDir, exists, readText, writeAtomic } from '../sys/fs.ts';
import { randomSecret } from '../sys/crypto.ts';
import { SECRETS_DIR_MODE } from '../core/layout.ts';
import { parseSshTarget, sftpCommand, sshProblem } from './ssh.ts';
import type { ResolvedPeer } from './peers.ts';

export const syncPasswordFile = (l: Layout) => join(l.secretsDir, 'mesh-sync.password');

/** Made by `mesh enable` (caller holds the write lock); `mesh key export` shows it. */
export function ensureSyncPassword(l: Layout): void {
  if (exists(syncPasswordFile(l))) return;
  ensureDir(l.secretsDir, { mode: SECRETS_DIR_MODE });
  writeAtomic(syncPasswordFile(l), `${randomSecret(32)}\n`, { mode: 0o600, uid: 0, gid: 0 });
}

export const readSyncPassword = (l: Layout) => readText(syncPasswordFile(l))?.trim() ?? null;

export interface Repository {
  peer: string;
  node: string;
  /** -r and -o arguments. */
  args: string[];
  /** SFTP peers: the ssh command restic runs, asked directly when restic hides ssh's reason. */
  ssh?: string[];
}

export function repositoryFor(l: Layout, p: ResolvedPeer, node: string): Repository {
  if (p.kind === 'rest') return { peer: p.peer, node, args: ['-r', `${p.target.replace(/\/$/, '')}/${node}/`] };
  const ssh = sftpCommand(l, parseSshTarget(p.target));
  // With sftp.command restic ignores the URL's host; the path is relative to the SFTP home.
  return { peer: p.peer, node, args: ['-r', `sftp:peer:secubox-mailserver/${node}`, '-o', `sftp.command=${ssh.join(' ')}`], ssh };
}

/** Where restic's password comes from: our file, or a password given on stdin (another node's). */
export type Password = { file: string } | { text: string };

export interface ResticOptions {
  timeoutMs?: number;
  /** Where relative paths (of `backup`) start. */
  cwd?: string;
}

export async function restic(l: Layout, repo: Repository, password: Password, args: string[], opts: ResticOptions = {}): Promise<RunResult> {
  // Without a file restic reads the password from stdin (not a terminal); nothing inherited may override.
  const env = { RESTIC_PASSWORD_FILE: 'file' in password ? password.file : '', RESTIC_PASSWORD: '', RESTIC_PASSWORD_COMMAND: '', RESTIC_CACHE_DIR: join(l.stateDir, 'restic-cache'), RESTIC_PROGRESS_FPS: '0.2' };
  return runAsync(['restic', ...repo.args, ...args], { env, input: 'text' in password ? `${password.text}\n` : '', timeoutMs: opts.timeoutMs ?? 6 * 3600_000, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
}

/** restic's complaint as a sentence, with ssh's own explained. */
export function resticError(repo: Repository, what: string, r: RunResult): MailError {
  const problem = sshProblem(r.stderr, repo.peer) ?? sshReason(repo, r.stderr);
  if (problem) return new MailError('daemon_error', `${what} on ${repo.peer}: ${problem}`, 'peer');
  if (/wrong password|no key found/i.test(r.stderr)) return new MailError('invalid_argument', `${what} on ${repo.peer}: the repository password is not this one (the node's \`mailctl mesh key export\` shows it)`, 'password');
  const lines = r.stderr.split('\n').filter((x) => x.trim() && !x.startsWith('{'));
  return new MailError('daemon_error', `${what} on ${repo.peer} failed: ${lines.slice(-2).join(' / ') || `restic exited ${r.code}`}`, 'peer');
}

/**
 * restic may exit on the SFTP session's EOF before it has passed on ssh's own complaint (seen on
 * a busy machine): ask ssh once more, directly, why it would not connect.
 */
function sshReason(repo: Repository, resticStderr: string): string | null {
  if (!repo.ssh || !/unable to start the sftp session/i.test(resticStderr)) return null;
  return sshProblem(run(repo.ssh, { timeoutMs: 20_000 }).stderr, repo.peer);
}

/** restic --json prints one JSON object per line (status lines first, the summary last). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').flatMap((line) => {
    if (!line.startsWith('{') && !line.startsWith('[')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** restic 0.14 has no "repository does not exist" exit code: it says so. */
export const missingRepository = (r: RunResult) => /does not exist|Is there a repository at the following location|unable to open config file/i.test(r.stderr);
