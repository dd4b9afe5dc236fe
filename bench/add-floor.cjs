// The least a durable `user add` among thousands must do on disk, with nothing else: no argument
// checks, no lock, no settings, no hash, no code of ours. Used by bench/run.mjs as a floor for
// the user add figures: what is left between it and a goal is all the room there is.
//
//   node bench/add-floor.cjs DIR N             one add, then exit (the cold floor)
//   node bench/add-floor.cjs DIR N --repeat K  K adds in this process; prints their median in ms
//
// DIR holds copies of the store's users file, vmailbox and vmailbox.cdb. One add, in the cheapest
// order the write rules allow (writes atomic: temp + flush + rename; a kill or power cut at any
// point leaves every file old or new, which needs the undo log on disk before the first rename):
// the undo log and the three new versions written, each a copy of the old file with one line put
// in the middle (the bytes moved are what cost; the cdb's are not a valid table here); the four
// flushed at once on the thread pool; the maildir made; the three renamed; the directory flushed
// once; the log emptied and flushed (the commit).
'use strict';
const fs = require('node:fs');
const { join } = require('node:path');

const [dir, first, flag, count] = process.argv.slice(2);
const FILES = ['users', 'vmailbox', 'vmailbox.cdb'];
const CHUNK = 64 * 1024;
const scratch = Buffer.allocUnsafe(CHUNK);

/** A new version of `name` beside it: the old bytes with `line` at the middle line start. */
function writeTemp(name, line) {
  const from = fs.openSync(join(dir, name), 'r');
  const size = fs.fstatSync(from).size;
  const middle = size >> 1;
  const probe = scratch.subarray(0, fs.readSync(from, scratch, 0, Math.min(1024, size - middle), middle));
  const newline = probe.indexOf(10);
  const at = newline < 0 ? size : middle + newline + 1;
  const temp = join(dir, `.${name}.new`);
  const to = fs.openSync(temp, 'w', 0o640);
  const copy = (start, end) => {
    for (let pos = start; pos < end; ) {
      const n = fs.readSync(from, scratch, 0, Math.min(CHUNK, end - pos), pos);
      fs.writeSync(to, scratch, 0, n);
      pos += n;
    }
  };
  copy(0, at);
  fs.writeSync(to, line);
  copy(at, size);
  fs.closeSync(from);
  return { fd: to, temp, path: join(dir, name) };
}

const flush = (fd) => new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));

async function addOne(n) {
  const email = `floor-${process.pid}-${n}@example.com`;
  const line = Buffer.from(`${email}:{SHA512-CRYPT}$6$${'s'.repeat(16)}$${'h'.repeat(86)}::::::\n`);
  const maildir = join(dir, 'mail', email);
  const log = fs.openSync(join(dir, 'undo'), 'w', 0o600);
  fs.writeSync(log, `${maildir}\n${FILES.join('\n')}\n`);
  const temps = FILES.map((name) => writeTemp(name, line));
  await Promise.all([log, ...temps.map((t) => t.fd)].map(flush));
  fs.mkdirSync(maildir, { recursive: true, mode: 0o700 });
  for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(join(maildir, sub), { mode: 0o700 });
  for (const t of temps) {
    fs.closeSync(t.fd);
    fs.renameSync(t.temp, t.path);
  }
  const directory = fs.openSync(dir, 'r');
  fs.fsyncSync(directory);
  fs.closeSync(directory);
  fs.ftruncateSync(log, 0);
  fs.fdatasyncSync(log); // the commit: once the reply says done, a power cut must not undo it
  fs.closeSync(log);
}

async function main() {
  if (flag !== '--repeat') return addOne(first);
  const times = [];
  for (let i = -3; i < Number(count); i++) {
    const t0 = process.hrtime.bigint();
    await addOne(`${first}-${i}`);
    if (i >= 0) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(`${times[times.length >> 1]}\n`);
}

main().catch((e) => {
  process.stderr.write(`add-floor: ${e.message}\n`);
  process.exitCode = 1;
});
