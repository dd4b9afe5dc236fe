// Virus scanning without the internet: a signature database made here that clamd loads (an
// .ndb body signature of the EICAR test string), and the mirror freshclam is pointed at.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
/** clamd names unsigned (custom) signatures with this suffix. */
export const DETECTION = 'Mailserver.Test.EICAR.UNOFFICIAL';
/** features.virus_mirror: a loopback port where nothing listens, so freshclam never reaches the internet. */
export const DEAD_MIRROR = 'http://127.0.0.1:9';

/** The custom signature database: ClamAV's documented .ndb format, Name:Target:Offset:HexSignature. */
export function installSignatures(root: string): void {
  const dir = join(root, 'srv/mailserver/state/clamav');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'mailserver-test.ndb');
  writeFileSync(file, `Mailserver.Test.EICAR:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  const uid = Number(spawnSync('id', ['-u', 'clamav'], { encoding: 'utf8' }).stdout);
  chownSync(file, uid, uid);
}
