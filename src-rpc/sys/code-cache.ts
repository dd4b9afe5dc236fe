// A cold call spends much of its time compiling the bundle before it runs a line of it. V8 can
// instead take the code it compiled on an earlier run (a code cache): the first run of a bundle
// writes that cache beside it once the bundle's top level has run, so it holds what every command
// compiles (the bundle's start, the dispatch) and not what the first command happened to compile
// later (a cache holding a whole `start` made a 256 MiB backup peak 8 MiB higher, every run);
// functions outside the cache compile when first called.
// Later runs start from it. One file per Node version and architecture (a cache fits only the V8
// that made it; two Nodes on one machine would otherwise replace each other's at every run). V8
// refuses a cache made by another V8 or set of flags, or from a source of another length (the run
// then compiles as usual and writes a fresh one), but it does not check the cache's own bytes:
// Node 20 aborts on a damaged one. So the file holds the cache twice, after a header line naming
// the bundle's hash and the cache's length, and a run hands V8 the cache only when both copies are
// the same bytes: damage shows as a difference (one memcmp, where a SHA-256 would load node:crypto
// and its streams, a tenth of a cold call; V8's own --verify-snapshot-checksum would make Node
// reject its built-in modules' code cache). A cache made for another bundle of the same length is
// refused by the header. The cache is as trusted as the bundle beside it: whoever can write one
// can write the other. Where the directory is not writable (a read-only image, a user other than
// root) every run compiles.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Script } from 'node:vm';

/** What a CommonJS module gets from Node's wrapper, passed on to the bundle. */
export interface ModuleScope {
  exports: unknown;
  require: NodeRequire;
  module: unknown;
  dirname: string;
}

/** Runs the CommonJS bundle `file` (content hash `hash`) in this module's scope, from its code cache when that fits. */
export function runWithCodeCache(file: string, hash: string, scope: ModuleScope): void {
  const cacheFile = `${file}.${process.version}-${process.arch}.v8cache`;
  const key = `${hash} ${process.version} ${process.arch}`;
  const cached = readCache(cacheFile, key);
  // Node's own module wrapper, on one line: line numbers in stack traces stay the bundle's.
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;
  const script = new Script(source, { filename: file, ...(cached ? { cachedData: cached } : {}) });
  script.runInThisContext()(scope.exports, scope.require, scope.module, file, scope.dirname);
  if (!cached || script.cachedDataRejected) writeCache(cacheFile, key, script.createCachedData());
}

/** The cache when the header names this key and its length, and both copies of it agree. */
function readCache(cacheFile: string, key: string): Buffer | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const end = bytes.indexOf(10);
  if (end < 0) return undefined;
  const length = (bytes.length - end - 1) / 2;
  if (bytes.toString('latin1', 0, end) !== `${key} ${length}`) return undefined;
  const data = bytes.subarray(end + 1, end + 1 + length);
  return data.equals(bytes.subarray(end + 1 + length)) ? data : undefined;
}

/** Temp file, fsync, rename: a run started meanwhile (or after a power cut) reads the old cache, the new one, or none. */
function writeCache(cacheFile: string, key: string, data: Buffer): void {
  const temp = `${cacheFile}.tmp-${process.pid}`;
  try {
    const fd = openSync(temp, 'w', 0o644);
    try {
      writeFileSync(fd, Buffer.concat([Buffer.from(`${key} ${data.length}\n`, 'latin1'), data, data]));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, cacheFile);
  } catch {
    // Not writable here: runs go on compiling, which is correct, only slower.
    rmSync(temp, { force: true });
  }
}
