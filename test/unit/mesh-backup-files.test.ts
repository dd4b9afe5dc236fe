// Backup file names and retention: two backups in one second are two files, names written
// before milliseconds were kept still list and sort, and mesh.keep removes only the oldest.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupFileName } from '../../src-rpc/mesh/format.ts';
import { applyRetention, backupsDir, listBackups, resolveBackupFile } from '../../src-rpc/mesh/backup-files.ts';
import type { Layout } from '../../src-rpc/core/layout.ts';

test('two backups within one second get different names, in time order', () => {
  const first = backupFileName('mail.example.com', new Date('2026-12-02T09:38:10.120Z'), true);
  const second = backupFileName('mail.example.com', new Date('2026-12-02T09:38:10.870Z'), true);
  assert.is(first, 'mailserver-mail.example.com-20261202T093810.120Z.tar.age');
  assert.is.not(first, second);
  assert.ok(first < second);
});

test('listing and retention sort old-style and new-style names by time', () => {
  const dataPath = mkdtempSync(join(tmpdir(), 'mesh-files-'));
  const l = { dataPath } as Layout;
  try {
    mkdirSync(backupsDir(l));
    const names: string[] = [
      'mailserver-mail.example.com-20261201T235959Z.tar.age',
      'mailserver-mail.example.com-20261202T093810.120Z.tar.age',
      'mailserver-mail.example.com-20261202T093810.870Z.tar',
      'mailserver-mail.example.com-20261202T093811Z.tar.age',
    ];
    for (const n of [...names].reverse()) writeFileSync(join(backupsDir(l), n), n);
    writeFileSync(join(backupsDir(l), 'notes.txt'), 'mine');
    const listed = listBackups(l);
    assert.equal(listed.map((b) => b.name), [...names].reverse());
    assert.equal(listed.map((b) => b.created), ['2026-12-02T09:38:11Z', '2026-12-02T09:38:10.870Z', '2026-12-02T09:38:10.120Z', '2026-12-01T23:59:59Z']);
    assert.is(resolveBackupFile(l, names[1]!), join(backupsDir(l), names[1]!));
    assert.equal(applyRetention(l, 2), names.slice(0, 2).map((n) => join(backupsDir(l), n)));
    assert.equal(readdirSync(backupsDir(l)).sort(), [...names.slice(2), 'notes.txt'].sort());
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});

test.run();
