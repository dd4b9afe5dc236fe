// The backup engine (age-encryption, modern-tar) is big and only the mesh methods need it:
// lib/mesh.js (see core/lazy-bundle.ts).
import { requireBundle } from '../core/lazy-bundle.ts';

type MeshEngine = typeof import('./engine.ts');

declare const MAILSERVER_BUNDLE: boolean | undefined;

export async function loadMeshEngine(): Promise<MeshEngine> {
  // The build replaces the condition with `true`; the import in the dead branch is then not bundled.
  if (typeof MAILSERVER_BUNDLE !== 'undefined') {
    return requireBundle<MeshEngine>('mesh.js', 'the backup module');
  } else {
    return import('./engine.ts');
  }
}
