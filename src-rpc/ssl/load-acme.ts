// The ACME library is big (acme-client, axios, node-forge) and only ssl-setup / ssl-renew need
// it, so it is a bundle of its own, lib/acme.js, loaded here on first use. scripts/build.mjs
// defines MAILSERVER_BUNDLE in the main bundles; from source (tests, tsx) the module is imported.
import { join } from 'node:path';
import { exists } from '../sys/fs.ts';
import { MailError } from '../core/errors.ts';

type AcmeModule = typeof import('./acme.ts');

declare const MAILSERVER_BUNDLE: boolean | undefined;

/** Next to the executable (the build tree, /usr/lib/mailserver), else where the package puts it. */
const candidates = () => [join(__dirname, 'lib', 'acme.js'), '/usr/lib/mailserver/lib/acme.js'];

export async function loadAcme(): Promise<AcmeModule> {
  // The build replaces the condition with `true`; the import in the dead branch is then not bundled.
  if (typeof MAILSERVER_BUNDLE !== 'undefined') {
    const file = candidates().find(exists);
    if (!file) throw new MailError('unsupported', `the ACME module is not installed (looked for ${candidates().join(', ')})`);
    return require(file) as AcmeModule;
  } else {
    return import('./acme.ts');
  }
}
