// A hashing thread (lib/hash-worker.js, see sys/hash-threads.ts): the SHA512-CRYPT of each list
// of passwords it is sent, in order.
import { parentPort } from 'node:worker_threads';
import { sha512Crypt } from './sha512crypt.ts';

parentPort!.on('message', (passwords: string[]) => parentPort!.postMessage(passwords.map((p) => sha512Crypt(p))));
