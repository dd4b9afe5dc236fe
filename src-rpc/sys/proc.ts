// /proc/PID/stat, the one place it is parsed: "pid (comm) state ppid pgrp session ...", where
// comm may hold spaces and parentheses, so the fields count from the last ')'.
import { readFileSync } from 'node:fs';

/** The fields after comm: [state, ppid, pgrp, session, ...], start time at 19; null when the process is gone. */
export function procStat(pid: number | 'self'): string[] | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A live process: not gone and not a zombie (a dead child nobody reaped still answers kill 0). */
export function processRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const fields = procStat(pid);
  return fields !== null && fields[0] !== 'Z';
}
