// The ACME library is big (acme-client, axios, node-forge) and only ssl-setup / ssl-renew need
// it: lib/acme.js (see core/lazy-bundle.ts).
import { requireBundle } from '../core/lazy-bundle.ts';

type AcmeModule = typeof import('./acme.ts');

declare const MAILSERVER_BUNDLE: boolean | undefined;

export async function loadAcme(): Promise<AcmeModule> {
  // The build replaces the condition with `true`; the import in the dead branch is then not bundled.
  if (typeof MAILSERVER_BUNDLE !== 'undefined') {
    return requireBundle<AcmeModule>('acme.js', 'the ACME module');
  } else {
    return import('./acme.ts');
  }
}
