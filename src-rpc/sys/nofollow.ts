// Directory work that never follows a symbolic link, for trees another user owns (the mail uid
// owns mail/ and mail/<domain>/ and can plant or swap links there at any moment).
//
// Node has no openat(): a directory is held open (O_DIRECTORY|O_NOFOLLOW) and its children are
// named through /proc/self/fd/<fd>/<name>, which the kernel resolves to that open directory
// however the path above it changes meanwhile. Every step below a trusted root is then one
// component of an open directory: a link there is refused (ELOOP/ENOTDIR), never followed, and
// chmod/chown act on the descriptor, not on a name.
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import type { Ownership } from './fs.ts';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/** A link (or a non-directory) where the mail tree must hold a real directory. */
export class LinkRefusedError extends Error {
  constructor(readonly path: string) {
    super(`${path} is a symbolic link or not a directory: refusing to follow it`);
  }
}

export class OpenDir {
  private constructor(
    readonly fd: number,
    /** The path it was reached by, for messages. */
    readonly path: string,
  ) {}

  /** The root of a walk: a directory only root can change (data_path). */
  static trusted(path: string): OpenDir {
    return new OpenDir(openSync(path, O_RDONLY | O_DIRECTORY), path);
  }

  /** How the kernel reaches `name` inside this very directory. */
  at(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`not a single path component: ${JSON.stringify(name)}`);
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  /** The child directory `name`, opened without following a link; null when it does not exist. */
  child(name: string): OpenDir | null {
    try {
      return new OpenDir(openSync(this.at(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW), join(this.path, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ELOOP' || code === 'ENOTDIR') throw new LinkRefusedError(join(this.path, name));
      throw e;
    }
  }

  /** The child directory `name`, made when missing; mode and owner set on the open descriptor. */
  ensureChild(name: string, own: Ownership): OpenDir {
    try {
      mkdirSync(this.at(name), { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const dir = this.child(name);
    if (!dir) throw new Error(`${join(this.path, name)} vanished while it was being made`);
    try {
      dir.own(own);
    } catch (e) {
      dir.close();
      throw e;
    }
    return dir;
  }

  own(own: Ownership): void {
    const st = fstatSync(this.fd);
    const mode = own.mode ?? 0o755;
    if ((st.mode & 0o7777) !== mode) fchmodSync(this.fd, mode);
    if ((own.uid !== undefined && st.uid !== own.uid) || (own.gid !== undefined && st.gid !== own.gid)) fchownSync(this.fd, own.uid ?? -1, own.gid ?? -1);
  }

  names(): string[] {
    return readdirSync(`/proc/self/fd/${this.fd}`);
  }

  /** lstat of a child: a link is seen as a link. */
  entry(name: string): Stats | null {
    return lstatSync(this.at(name), { throwIfNoEntry: false }) ?? null;
  }

  /** Rename a child into another open directory (no path above either is looked up again). */
  move(name: string, to: OpenDir, newName: string): void {
    renameSync(this.at(name), to.at(newName));
  }

  /** rmdir a child: fails rather than delete anything still inside (or a link). */
  removeEmptyChild(name: string): void {
    rmdirSync(this.at(name));
  }

  /** rm -r of a child: links inside are removed as links, never followed. */
  removeChildTree(name: string): void {
    const st = this.entry(name);
    if (!st) return;
    if (!st.isDirectory()) {
      unlinkSync(this.at(name));
      return;
    }
    withDir(this.child(name), (dir) => {
      for (const n of dir.names()) dir.removeChildTree(n);
    });
    rmdirSync(this.at(name));
  }

  /** chown -R of this directory: links themselves get the owner, their targets are untouched. */
  chownTree(uid: number, gid: number): void {
    fchownSync(this.fd, uid, gid);
    for (const name of this.names()) {
      const st = this.entry(name);
      if (st?.isDirectory()) withDir(this.child(name), (d) => d.chownTree(uid, gid));
      else if (st) lchownSync(this.at(name), uid, gid);
    }
  }

  /** The first symbolic link anywhere below, or null. */
  findLink(): string | null {
    for (const name of this.names()) {
      const st = this.entry(name);
      if (st?.isSymbolicLink()) return join(this.path, name);
      if (st?.isDirectory()) {
        const found = withDir(this.child(name), (d) => d.findLink());
        if (found) return found;
      }
    }
    return null;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Run `fn` with an open directory and close it after; a missing one is an error. */
export function withDir<T>(dir: OpenDir | null, fn: (d: OpenDir) => T): T {
  if (!dir) throw new Error('directory vanished during the walk');
  try {
    return fn(dir);
  } finally {
    dir.close();
  }
}

/**
 * Open root/parts[0]/parts[1]/... refusing every link below the trusted root. With `create`,
 * missing directories are made and every one of them gets that mode and owner; without it, a
 * missing one answers null.
 */
export function openBelow(root: string, parts: string[], create?: Ownership): OpenDir | null {
  let dir = OpenDir.trusted(root);
  for (const name of parts) {
    let next: OpenDir | null;
    try {
      next = create ? dir.ensureChild(name, create) : dir.child(name);
    } finally {
      dir.close();
    }
    if (!next) return null;
    dir = next;
  }
  return dir;
}
