// `tail -F` for a log file that is rotated (renamed, recreated, or truncated in place) and whose
// reader restarts: the position (inode + offset) is handed to `save` after every batch and
// taken back from `load`, so a restarted follower reads what it missed and nothing twice.
// Idle it costs nothing: it sleeps in inotify (fs.watch on the directory) until the file grows.
import { closeSync, fstatSync, openSync, readSync, statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface FollowPosition {
  inode: number;
  offset: number;
}

export interface FollowOptions {
  path: string;
  load: () => FollowPosition | null;
  save: (p: FollowPosition) => void;
  /** Complete lines, in order. */
  onLines: (lines: string[]) => void;
  onError?: (e: unknown) => void;
}

const CHUNK = 64 * 1024;

export class Follower {
  private fd: number | null = null;
  private inode = 0;
  private offset = 0;
  private partial = '';
  private watcher: FSWatcher | null = null;

  constructor(private readonly o: FollowOptions) {}

  start(): void {
    const saved = this.o.load();
    if (this.open()) {
      const size = fstatSync(this.fd!).size;
      // The same file as before: go on where we stopped. A new one (rotated while we were not
      // running) is read whole; with no record at all, only what comes from now on counts.
      if (saved && saved.inode === this.inode) this.offset = saved.offset <= size ? saved.offset : 0;
      else this.offset = saved ? 0 : size;
      this.save();
    }
    this.watcher = watch(dirname(this.o.path), (_event, name) => {
      if (name === null || name === basename(this.o.path)) this.poke();
    });
    this.poke();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** Read what is new; follow the name to a new file after a rotation. */
  poke(): void {
    try {
      if (this.fd === null) {
        if (!this.open()) return;
        this.offset = 0;
      }
      this.drain();
      const now = statSync(this.o.path, { throwIfNoEntry: false });
      if (now && now.ino !== this.inode) {
        // Renamed away and recreated: the old file is complete now (drained above).
        closeSync(this.fd!);
        this.fd = null;
        this.partial = '';
        if (this.open()) {
          this.offset = 0;
          this.drain();
        }
      }
    } catch (e) {
      this.o.onError?.(e);
    }
  }

  private open(): boolean {
    try {
      this.fd = openSync(this.o.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    this.inode = fstatSync(this.fd).ino;
    return true;
  }

  private drain(): void {
    const size = fstatSync(this.fd!).size;
    // Truncated in place (copytruncate): start again at its beginning.
    if (size < this.offset) {
      this.offset = 0;
      this.partial = '';
    }
    const buffer = Buffer.alloc(CHUNK);
    let got = false;
    for (;;) {
      const n = readSync(this.fd!, buffer, 0, CHUNK, this.offset);
      if (n <= 0) break;
      this.offset += n;
      got = true;
      const text = this.partial + buffer.subarray(0, n).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      if (lines.length) this.o.onLines(lines);
    }
    if (got) this.save();
  }

  private save(): void {
    // The offset of the last complete line: a half-written one is read again, whole, later.
    this.o.save({ inode: this.inode, offset: this.offset - Buffer.byteLength(this.partial) });
  }
}
