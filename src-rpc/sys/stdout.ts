// Replies and listings go to fd 1 by writeSync. process.stdout on a pipe (how rpcd, scripts and
// tests read us) is a net.Socket: making it loads node:net and the streams, a few milliseconds
// of a cold call, to write one string.
import { writeSync } from 'node:fs';
import { sleepSync } from './spawn.ts';

/** All of `text` on standard output; nothing when its reader has gone (as `mailctl ... | head`). */
export function writeStdout(text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(1, bytes, at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return;
      // A non-blocking pipe that is full: its reader drains it.
      if (code !== 'EAGAIN') throw e;
      sleepSync(1);
    }
  }
}
