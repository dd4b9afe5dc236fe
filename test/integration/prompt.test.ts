// A person at the router's shell: mailctl asks for the password twice on the terminal, without
// echo, and refuses two different entries. (A pseudo-terminal from Python's pty module.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { MAILCTL, writeConfig } from '../support/mailctl.ts';

const PTY_RUN = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'pty-run.py');
const box = makeSandbox();

function atTerminal(args: string[], lines: string[]): { code: number; screen: string } {
  const r = spawnSync('/usr/bin/python3', [PTY_RUN], {
    input: JSON.stringify({ argv: [MAILCTL, ...args], env: { MAILSERVER_ROOT: box.root }, lines }),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`pty-run: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const users = () => readFileSync(join(box.root, 'srv/mailserver/config/users'), 'utf8');

test.before(() => writeConfig(box.root));
test.after(() => box.cleanup());

test('user add prompts twice without echo and creates the mailbox', () => {
  const r = atTerminal(['user', 'add', 'anna@example.com'], ['typed-secret-1', 'typed-secret-1']);
  assert.is(r.code, 0, r.screen);
  assert.match(r.screen, /password[^\n]*:/i);
  assert.match(r.screen, /again:/);
  assert.not.ok(r.screen.includes('typed-secret-1'), 'the password is not echoed');
  assert.match(r.screen, /created anna@example\.com/);
  assert.match(users(), /^anna@example\.com:\{SHA512-CRYPT\}/m);
});

test('two different entries are refused and nothing is created', () => {
  const r = atTerminal(['user', 'add', 'ben@example.com'], ['first-entry-1', 'second-entry-2']);
  assert.is(r.code, 2, r.screen);
  assert.match(r.screen, /differ/);
  assert.not.match(users(), /^ben@example\.com:/m);
});

test.run();
