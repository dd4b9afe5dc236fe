// A job started from the page (rpcd's door: a detached runner) runs with a small young
// generation (jobs/run.ts). Measured by hand, not here: how much that saves grows with the
// volume streamed (a backup of 512 MiB peaked about 7 MB lower, of 1 GiB 11-15 MB), and a test
// backing up that much would take a minute of CI. Here: the runner a backup starts carries the
// flag, and the backup it makes is whole.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { ok, writeConfig } from '../support/mailctl.ts';

const PLUGIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'rpcd', 'luci.mailserver');
const box = makeSandbox('mailserver-job-memory-');
const root = box.root;
const env = { ...process.env, MAILSERVER_ROOT: root };
test.after(() => box.cleanup());

const call = (method: string, args: object) => JSON.parse(spawnSync(PLUGIN, ['call', method], { env, input: JSON.stringify(args), encoding: 'utf8' }).stdout) as Record<string, unknown>;

test('a backup started through rpcd runs in a process with a small young generation, and completes', async () => {
  writeConfig(root);
  ok(root, ['user', 'add', 'alice@example.com', '--password-stdin'], 'alice-pass-1\n');
  // 64 MiB of mail: a backup long enough to find its runner running.
  const cur = join(root, 'srv/mailserver/mail/example.com/alice/cur');
  for (let i = 0; i < 1024; i++) writeFileSync(join(cur, `${1_700_000_000 + i}.M${i}P1.test,S=65536:2,S`), randomBytes(48 * 1024).toString('base64').slice(0, 65_536), { mode: 0o600 });
  const output = join(root, 'backup-by-rpcd');
  const id = String(call('mesh_backup', { output }).job);
  const pid = Number(call('job_status', { id }).pid);
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  // The job ends before anything is asserted: the sandbox is not removed under a running backup.
  let job = call('job_status', { id });
  for (const deadline = Date.now() + 120_000; job.state === 'running' && Date.now() < deadline; job = call('job_status', { id })) await new Promise((r) => setTimeout(r, 200));
  assert.ok(argv.includes('--max-semi-space-size=2'), argv.join(' '));
  assert.ok(argv.includes('job-run') && argv.includes(id), argv.join(' '));
  assert.is(job.state, 'done', JSON.stringify(job.error));
  assert.is(statSync(output).size, (job.result as { bytes: number }).bytes);
  assert.equal((job.result as { messages: Record<string, number> }).messages, { 'alice@example.com': 1024 });
});

test.run();
