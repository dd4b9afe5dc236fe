// Hold one of the product's locks (same root, same scope) from another process, as a concurrent
// writer would, until release() is called. `nodeBin`: the holder runs on the plugin's Node, so a
// run on Node 18 takes the lock from Node 18 too.
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function holdLock(root: string, scope: string, nodeBin = process.execPath): Promise<() => Promise<void>> {
  const code = `const { withLock } = await import(${JSON.stringify(join(REPO, 'src-rpc/sys/lock.ts'))});
await withLock(${JSON.stringify(scope)}, 5000, () => new Promise((done) => { process.stdout.write('held\\n'); process.stdin.on('end', done).resume(); }));`;
  const child = spawn(nodeBin, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, env: { ...process.env, MAILSERVER_ROOT: root }, stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((ready, fail) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('held') && ready());
    child.once('exit', (c) => fail(new Error(`lock holder exited ${c}`)));
  });
  return () =>
    new Promise<void>((done) => {
      child.once('exit', () => done());
      child.stdin.end();
    });
}
