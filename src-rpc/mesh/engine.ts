// What the mesh methods need from the big libraries (age-encryption, modern-tar): one bundle of
// its own, lib/mesh.js, loaded by load-engine.ts only when a mesh method runs.
import { ensureGlobalWebCrypto } from '../sys/web-crypto.ts';

ensureGlobalWebCrypto();
export { createBackup } from './backup.ts';
export { restoreBackup, undoRestore } from './restore.ts';
export { describeKey, importBackupKey, ensureBackupKey } from './keys.ts';
export { syncPush, syncPull } from './sync.ts';
export { syncVerify } from './verify.ts';
