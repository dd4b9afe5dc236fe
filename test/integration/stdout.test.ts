// Output larger than a pipe holds (a listing of 3 000 mailboxes) reaches a slow reader whole, also
// through a non-blocking pipe, and a reader that leaves early (`| head`) ends mailctl quietly.
// Both through a shell pipeline, as a script meets them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox } from '../support/sandbox.ts';
import { MAILCTL, ok, writeConfig } from '../support/mailctl.ts';

const box = makeSandbox('mailserver-stdout-');
const USERS = 3000;
let listing = '';
test.after(() => box.cleanup());

test.before(() => {
  writeConfig(box.root);
  ok(box.root, ['user', 'add', 'seed@example.com', '--password-stdin'], 'a-long-password-1\n');
  const usersFile = join(box.root, 'srv', 'mailserver', 'config', 'users');
  const hash = readFileSync(usersFile, 'utf8').split(':')[1];
  const { uid, gid, mode } = statSync(usersFile);
  writeFileSync(usersFile, Array.from({ length: USERS }, (_, i) => `user${String(i).padStart(5, '0')}@example.com:${hash}::::::\n`).join(''));
  chownSync(usersFile, uid, gid);
  chmodSync(usersFile, mode & 0o7777);
  listing = ok(box.root, ['user', 'list', '--json', '--limit', String(USERS)]).stdout;
  assert.ok(listing.length > 128 * 1024, `the listing (${listing.length} bytes) must be more than a pipe holds`);
});

/** bash -c script with $MAILCTL set; its stdout, stderr and status. */
function sh(script: string) {
  const r = spawnSync('bash', ['-c', script], { env: { ...process.env, MAILSERVER_ROOT: box.root, MAILCTL }, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test('a listing reaches a reader that starts late, whole, through a non-blocking pipe', () => {
  // python3 sets O_NONBLOCK on the pipe, then becomes mailctl: writes meet EAGAIN until the reader wakes.
  const nonBlocking = `import fcntl, os, sys; fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK); os.execv(sys.argv[1], sys.argv[1:])`;
  const r = sh(`python3 -c '${nonBlocking}' "$MAILCTL" user list --json --limit ${USERS} | (sleep 1; cat); echo "status \${PIPESTATUS[0]}" >&2`);
  assert.is(r.stderr.trim(), 'status 0');
  assert.is(r.stdout, listing);
  assert.is(JSON.parse(r.stdout).items.length, USERS);
});

test('a reader that leaves early ends mailctl quietly, with success', () => {
  const r = sh(`"$MAILCTL" user list --json --limit ${USERS} | head -c 100 >/dev/null; echo "status \${PIPESTATUS[0]}" >&2`);
  assert.is(r.stderr.trim(), 'status 0');
});

test.run();
