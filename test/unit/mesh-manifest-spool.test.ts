// The backup's manifest written entry by entry to a temp file must be the very MANIFEST.json an
// in-memory JSON.stringify gave (older and newer mailctl restore the same archives), sized in
// bytes (non-ASCII names), and leave no temp file behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManifestSpool } from '../../src-rpc/mesh/manifest-spool.ts';
import { parseManifest, type BackupHeader, type ManifestEntry } from '../../src-rpc/mesh/format.ts';

const header: BackupHeader = { format: 1, node: 'mail.example.com', created: '2026-01-01T00:00:00.000Z' };

function entries(): ManifestEntry[] {
  const out: ManifestEntry[] = [{ path: 'data/mail', type: 'directory', size: 0, mode: 0o700, uid: 0, gid: 0, mtimeMs: 1_700_000_000_000 }];
  // Enough to cross several write batches; accented names make characters and bytes differ.
  for (let i = 0; i < 3000; i++) {
    const box = i % 3 === 0 ? 'zoé' : 'alice';
    const folder = i % 5 === 0 ? '.Sent/' : '';
    out.push({ path: `data/mail/example.com/${box}/${folder}cur/${1_700_000_000 + i}.M${i}P1.host,S=100:2,S`, type: 'file', size: 100 + i, mode: 0o600, uid: 1000, gid: 1000, mtimeMs: 1_700_000_000_000 + i * 1000, sha256: `${i}`.padStart(64, 'a') });
  }
  out.push({ path: 'data/mail/example.com/alice/dovecot-uidlist', type: 'file', size: 12, mode: 0o600, uid: 1000, gid: 1000, mtimeMs: 0, sha256: 'b'.repeat(64) });
  out.push({ path: 'data/ssl/live', type: 'symlink', size: 0, mode: 0o777, uid: 0, gid: 0, mtimeMs: 0, target: 'gen/x' });
  return out;
}

test('the spooled manifest is byte for byte the JSON of the whole manifest, and restore parses it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'manifest-spool-'));
  try {
    const list = entries();
    const spool = await createManifestSpool(join(dir, '.tmp-backup.manifest'), header);
    for (const e of list) await spool.add(e);
    const { size, bytes } = await spool.close();
    const chunks: Buffer[] = [];
    for await (const c of bytes) chunks.push(Buffer.from(c));
    const written = Buffer.concat(chunks);

    const messages = { 'zoé@example.com': 1000, 'alice@example.com': 2000 };
    assert.equal(written, Buffer.from(`${JSON.stringify({ ...header, entries: list, messages })}\n`));
    assert.is(size, written.length);
    assert.is(spool.files, 3001);
    assert.equal(spool.messages, messages);
    assert.equal(parseManifest(written.toString(), header).entries, list);

    await spool.discard();
    assert.equal(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('discarding before the end removes the temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'manifest-spool-'));
  try {
    const spool = await createManifestSpool(join(dir, '.tmp-backup.manifest'), header);
    for (const e of entries()) await spool.add(e);
    await spool.discard();
    assert.equal(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
