// Code only some methods need (the ACME client, the backup engine) is a bundle of its own under
// lib/, required on first use, so the other methods never parse it. scripts/build.mjs defines
// MAILSERVER_BUNDLE in the main bundles; callers keep `typeof MAILSERVER_BUNDLE` inline so the
// build drops their from-source import() (tests and tsx import the module directly).
import { join } from 'node:path';
import { exists } from '../sys/fs.ts';
import { MailError } from './errors.ts';

/** lib/<name> next to the executable (the build tree, /usr/lib/mailserver), else where the package puts it. */
export function bundleCandidates(name: string): string[] {
  return [join(__dirname, 'lib', name), `/usr/lib/mailserver/lib/${name}`];
}

export function requireBundle<T>(name: string, what: string): T {
  const candidates = bundleCandidates(name);
  const file = candidates.find(exists);
  if (!file) throw new MailError('unsupported', `${what} is not installed (looked for ${candidates.join(', ')})`);
  return require(file) as T;
}

declare const MAILSERVER_BUNDLE: boolean | undefined;

/** lib/<name> for a thread to run; undefined from source (tests through tsx) or when not installed. */
export function threadScript(name: string): string | undefined {
  return typeof MAILSERVER_BUNDLE !== 'undefined' ? bundleCandidates(name).find(exists) : undefined;
}
