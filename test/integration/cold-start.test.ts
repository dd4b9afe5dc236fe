// What a cold call loads on top of Node's own start (`node -e 0`, the floor the bench measures cold
// calls against). Each built-in module a call loads costs every run: node:v8 alone pulls in the
// streams, ~3 ms of every cold call (a cold `status` takes ~52 ms here, Node's start ~39 ms), and
// it did so unnoticed until the bench's ratios crept up. The heavier built-ins load when first used (scripts/build.mjs LAZY_BUILTINS);
// this keeps a new import from loading one at start again, on the calls the bench times. Only
// node:vm, which runs the bundle from its code cache (src-rpc/sys/code-cache.ts), is expected.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { MAILCTL, ok, writeConfig } from '../support/mailctl.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PLUGIN = join(REPO, 'rpcd', 'luci.mailserver.js');
const box = makeSandbox('mailserver-cold-start-');
const root = box.root;
const HOOK = join(root, 'builtins-at-exit.cjs');
const EXPECTED = ['vm'];

test.after(() => box.cleanup());

test.before(() => {
  // Cold calls, as the bench times them: no warm worker started after the reply.
  writeConfig(root, { workerIdle: 0 });
  ok(root, ['user', 'add', 'first@example.com', '--password-stdin'], 'a-long-password-1\n');
  writeFileSync(
    HOOK,
    "process.on('exit', () => require('node:fs').writeSync(2, '\\nbuiltins ' + process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)).join(' ') + '\\n'));\n",
  );
});

/** The built-in modules loaded by the end of `node -r HOOK args`. */
function builtinsOf(args: string[], input = ''): Set<string> {
  const r = spawnSync(process.execPath, ['-r', HOOK, ...args], { input, encoding: 'utf8', env: { ...process.env, MAILSERVER_ROOT: root } });
  assert.is(r.status, 0, `${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith('builtins '));
  assert.ok(line, `${args.join(' ')}: the hook reported: ${r.stderr}`);
  return new Set(line.split(' ').slice(1));
}

/** What `args` loads that Node's own start does not. */
function loadedOnTop(args: string[], input = ''): string[] {
  const floor = builtinsOf(['-e', '0']);
  return [...builtinsOf(args, input)].filter((m) => !floor.has(m)).sort();
}

test('the floor itself is measured: `node -e 0` loads no node:vm, and the hook sees a lazy module once it is used', () => {
  assert.not.ok(builtinsOf(['-e', '0']).has('vm'));
  assert.ok(builtinsOf(['-e', "require('node:child_process')"]).has('child_process'));
});

test('mailctl user list loads only node:vm on top of Node', () => {
  assert.equal(loadedOnTop([MAILCTL, 'user', 'list', '--json']), EXPECTED);
});

test('a quick mailctl user add loads only node:vm on top of Node', () => {
  const usersBefore = readFileSync(join(root, 'srv/mailserver/config/users'), 'utf8');
  assert.equal(loadedOnTop([MAILCTL, 'user', 'add', 'second@example.com', '--password-stdin'], 'a-long-password-2\n'), EXPECTED);
  assert.ok(readFileSync(join(root, 'srv/mailserver/config/users'), 'utf8').length > usersBefore.length, 'the mailbox was added');
});

test('the plugin’s cold call status and call user_list load only node:vm on top of Node', () => {
  assert.equal(loadedOnTop([PLUGIN, 'call', 'status'], '{}'), EXPECTED);
  assert.equal(loadedOnTop([PLUGIN, 'call', 'user_list'], '{"limit":25}'), EXPECTED);
});

test.run();
