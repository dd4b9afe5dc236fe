// The executables mailctl and luci.mailserver.js: a few lines that run their bundle
// (lib/<BOOT_BUNDLE>, built by scripts/build.mjs with its hash in BOOT_BUNDLE_HASH) from V8's
// code cache (sys/code-cache.ts). The bundle sees this file's require, module and directory, so
// process.argv[1] (how the code starts itself again: the worker, jobs) and lib/ stay as they were.
import { existsSync } from 'node:fs';
import { bundleCandidates } from '../core/lazy-bundle.ts';
import { runWithCodeCache } from '../sys/code-cache.ts';

declare const BOOT_BUNDLE: string;
declare const BOOT_BUNDLE_HASH: string;

const candidates = bundleCandidates(BOOT_BUNDLE);
const file = candidates.find((f) => existsSync(f));
if (file) runWithCodeCache(file, BOOT_BUNDLE_HASH, { exports, require, module, dirname: __dirname });
else {
  process.stderr.write(`${BOOT_BUNDLE} is not installed (looked for ${candidates.join(', ')})\n`);
  process.exitCode = 1;
}
