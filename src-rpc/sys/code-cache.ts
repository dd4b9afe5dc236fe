// A cold call spends much of its time compiling the bundle before it runs a line of it. V8 can
// instead take the code it compiled on an earlier run (a code cache), in three steps:
// - the first run of a bundle writes a cache once the bundle's top level has run ("top"): what
//   every command compiles, and not what that command happened to compile later (a cache holding
//   a whole `start` made a 256 MiB backup peak 8 MiB higher, every run);
// - the first run that answers a read call replaces a "top" cache with one taken as it ends
//   ("read"): it also holds the functions of loading the settings, the dispatch and the store's
//   reads, which every call runs and which otherwise compile at each run (measured: a few ms of a
//   cold call, within this machine's noise). A read call compiles little beyond them;
// - the first run from a "read" cache that adds a mailbox the quick way (what scripts run by the
//   hundred) replaces it with one taken as it ends ("add"): the read calls' code, deserialized
//   from the cache, plus the hash, the write lock, the undo log and the quick add. A general add
//   (converging everything) writes none: its code is most of a `start`.
//   An "add" cache is kept until the bundle changes.
// Functions outside the cache compile when first called.
// One file per Node version and architecture (a cache fits only the V8 that made it; two Nodes on
// one machine would otherwise replace each other's at every run). V8 refuses a cache made by
// another V8 or set of flags, or from a source of another length (the run then compiles as usual
// and writes a fresh one), but it does not check the cache's own bytes: Node 20 aborts on a
// damaged one. So the file holds the cache twice, after a header line naming the bundle's hash,
// the kind and the cache's length, and a run hands V8 the cache only when both copies are the same
// bytes: damage shows as a difference (one memcmp, where a SHA-256 would load node:crypto and its
// streams, ~5% of a cold call; V8's own --verify-snapshot-checksum would make Node refuse the code
// cache of its own built-in modules). A cache made for another bundle of the same length is
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

const KINDS = ['top', 'read', 'add'] as const;
type CacheKind = (typeof KINDS)[number];
type Moment = 'read' | 'add';

/** The kind a run may write, by the kind it started from (none: no cache, or a refused one). */
const NEXT_KIND: Record<CacheKind | 'none', Moment | null> = { none: 'read', top: 'read', read: 'add', add: null };

/** Emitted on process by the bundle (answeredRead, addedQuickly) and heard by the executable's own copy of this file. */
const MOMENT = 'mailserver:code-cache-moment';

/** Runs the CommonJS bundle `file` (content hash `hash`) in this module's scope, from its code cache when that fits. */
export function runWithCodeCache(file: string, hash: string, scope: ModuleScope): void {
  // Node's own module wrapper, on one line: line numbers in stack traces stay the bundle's.
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;
  const run = (script: Script) => script.runInThisContext()(scope.exports, scope.require, scope.module, file, scope.dirname);
  // A cache fits only the V8 flags that made it: a process started with flags (the warm worker's
  // heap settings) would refuse the cold calls' cache and replace it, and the next cold call
  // would replace it back. The worker starts once per idle period; it compiles.
  if (process.execArgv.length > 0) return run(new Script(source, { filename: file }));
  const cacheFile = `${file}.${process.version}-${process.arch}.v8cache`;
  const key = `${hash} ${process.version} ${process.arch}`;
  const cached = readCache(cacheFile, key);
  const script = new Script(source, { filename: file, ...(cached ? { cachedData: cached.data } : {}) });
  const fresh = !cached || script.cachedDataRejected === true;
  const next = NEXT_KIND[fresh ? 'none' : cached.kind];
  if (next) {
    const heard = (moment: Moment) => {
      if (moment !== next) return;
      process.off(MOMENT, heard);
      // At exit: the reply is out, and the cache also holds the code that wrote it.
      process.once('exit', () => writeCache(cacheFile, key, next, script.createCachedData()));
    };
    process.on(MOMENT, heard);
  }
  run(script);
  if (fresh) writeCache(cacheFile, key, 'top', script.createCachedData());
}

/** The bundle has answered a read call: a cache taken at exit serves every call better (see above). */
export function answeredRead(): void {
  (process as NodeJS.EventEmitter).emit(MOMENT, 'read');
}

/** The bundle has added a mailbox the quick way: see above. */
export function addedQuickly(): void {
  (process as NodeJS.EventEmitter).emit(MOMENT, 'add');
}

/** The cache when the header names this key, a kind and its length, and both copies of it agree. */
function readCache(cacheFile: string, key: string): { data: Buffer; kind: CacheKind } | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const end = bytes.indexOf(10);
  if (end < 0) return undefined;
  const length = (bytes.length - end - 1) / 2;
  const header = bytes.toString('latin1', 0, end);
  const kind = KINDS.find((k) => header === `${key} ${k} ${length}`);
  const data = bytes.subarray(end + 1, end + 1 + length);
  return kind && data.equals(bytes.subarray(end + 1 + length)) ? { data, kind } : undefined;
}

/** Temp file, fsync, rename: a run started meanwhile (or after a power cut) reads the old cache, the new one, or none. */
function writeCache(cacheFile: string, key: string, kind: CacheKind, data: Buffer): void {
  const temp = `${cacheFile}.tmp-${process.pid}`;
  try {
    const fd = openSync(temp, 'w', 0o644);
    try {
      writeFileSync(fd, Buffer.concat([Buffer.from(`${key} ${kind} ${data.length}\n`, 'latin1'), data, data]));
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
