// A clone of this repository alone must build and pass its tests: nothing may reach for the
// folders that sit beside it on the developers' machines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// Spelled in two pieces so this file does not match itself.
const OUTSIDE = new RegExp(['\\.\\./', 'shared\\b'].join(''));

test('no tracked file reads or links the shared folder beside the clone', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  assert.ok(files.length > 50, 'git ls-files lists the repository');
  const offenders = files.filter((f) => f !== 'package-lock.json' && OUTSIDE.test(readFileSync(join(ROOT, f), 'latin1')));
  assert.equal(offenders, []);
});

test('the UCI oracle is inside the repository', () => {
  for (const name of ['basic', 'tricky']) {
    for (const file of ['input', 'export', 'show', 'committed']) {
      assert.ok(readFileSync(join(ROOT, 'test/fixtures/uci', name, file), 'utf8').length > 0, `${name}/${file}`);
    }
  }
});

test.run();
