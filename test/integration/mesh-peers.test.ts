// Mesh peers at the door: what a peer may be (`[user@]host[:port]`, a restic REST URL, or a
// secubox-p2p id resolved through that tool: here a fake mimicking its CLI, see
// test/support/fake-secubox-p2p), refused with the reason otherwise, and UCI's
// mesh.backup_peers validated when it is read. No daemons are started here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox } from '../support/sandbox.ts';
import { MAILCTL, mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { spawnSync } from 'node:child_process';

const box = makeSandbox();
const root = box.root;
const FAKE = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'fake-secubox-p2p');
const uciFile = join(root, 'etc/config/mailserver');

/** mailctl with the fake secubox-p2p first on PATH. */
function withP2p(args: string[]) {
  const bin = join(root, 'p2p-bin');
  mkdirSync(bin, { recursive: true });
  try {
    symlinkSync(FAKE, join(bin, 'secubox-p2p'));
  } catch {
    // made by an earlier call
  }
  const r = spawnSync(MAILCTL, args, { env: { ...process.env, MAILSERVER_ROOT: root, PATH: `${bin}:${process.env.PATH}`, FAKE_P2P_PEERS: join(root, 'p2p-peers.json') }, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test.before(() => {
  writeConfig(root);
  writeFileSync(
    join(root, 'p2p-peers.json'),
    JSON.stringify({
      peers: [
        { id: 'sb-0a1b2c3d4e5f', name: 'this-router (local)', address: '192.168.1.1', status: 'online', is_local: true },
        { id: 'peer-1a2b3c4d', name: 'Grandma', address: '10.8.0.7', status: 'online', added: '2026-01-01T00:00:00+00:00' },
      ],
    }),
  );
});

test.after(() => box.cleanup());

test('without secubox-p2p: SFTP and REST peers are taken, listed and removed', () => {
  ok(root, ['mesh', 'add-peer', 'backup@nas.example.net:2222']);
  ok(root, ['mesh', 'add-peer', 'rest:https://nas.example.net:8000/mail']);
  const m = JSON.parse(ok(root, ['mesh', 'peers', '--json']).stdout);
  assert.equal(m.peers, ['backup@nas.example.net:2222', 'rest:https://nas.example.net:8000/mail']);
  assert.equal(m.resolved.map((p: { kind: string }) => p.kind), ['sftp', 'rest']);
  assert.match(readFileSync(uciFile, 'utf8'), /list backup_peers 'backup@nas.example.net:2222'/);
  ok(root, ['mesh', 'remove-peer', 'rest:https://nas.example.net:8000/mail']);
  assert.equal(JSON.parse(ok(root, ['mesh', 'peers', '--json']).stdout).peers, ['backup@nas.example.net:2222']);
});

test('bad peers are refused with the reason and UCI is untouched', () => {
  const before = readFileSync(uciFile, 'utf8');
  for (const bad of ["nas'; rm -rf /", 'a b', 'rest:https://user:secret@nas.example.net/x', 'nas.example.net:99999', '"quoted"']) {
    const r = mailctl(root, ['mesh', 'add-peer', bad]);
    assert.is(r.code, 1, bad);
    assert.match(r.stderr, /peer/, bad);
  }
  assert.is(readFileSync(uciFile, 'utf8'), before);
});

test('mesh.backup_peers in UCI is validated when read: a space or quote inside a list item is an error', () => {
  const before = readFileSync(uciFile, 'utf8');
  writeFileSync(uciFile, `${before}\nconfig mesh 'mesh'\n\tlist backup_peers 'nas.example.net other'\n`);
  const r = mailctl(root, ['mesh', 'peers']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /mesh\.backup_peers/);
  writeFileSync(uciFile, before);
});

test('with secubox-p2p: a peer id resolves to its address; an unknown id is refused', () => {
  const r = withP2p(['mesh', 'add-peer', 'peer-1a2b3c4d', '--json']);
  assert.is(r.code, 0, r.stderr);
  const p2p = JSON.parse(r.stdout).resolved.find((p: { peer: string }) => p.peer === 'peer-1a2b3c4d');
  assert.equal(p2p, { peer: 'peer-1a2b3c4d', kind: 'p2p', target: 'root@10.8.0.7', name: 'Grandma' });
  const unknown = withP2p(['mesh', 'add-peer', 'peer-ffffffff']);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /secubox-p2p knows no peer peer-ffffffff/);
  // The local node is not a peer of itself.
  assert.is(withP2p(['mesh', 'add-peer', 'sb-0a1b2c3d4e5f']).code, 1);
  // Without the tool the same id is only a host name: `mesh peers` says how it is reached now.
  const plain = JSON.parse(ok(root, ['mesh', 'peers', '--json']).stdout).resolved.find((p: { peer: string }) => p.peer === 'peer-1a2b3c4d');
  assert.is(plain.kind, 'sftp');
});

test.run();
