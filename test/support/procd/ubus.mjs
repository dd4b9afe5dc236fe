#!/usr/bin/env node
// The `ubus` CLI of this procd double: `ubus call service METHOD [JSON]`, answered by procd.ts
// over $PROCD_DOUBLE_SOCKET. Only `call` (what procd.sh and the tests use).
import { createConnection } from 'node:net';

const [verb, object, method, json = '{}'] = process.argv.slice(2);
if (verb !== 'call' || !object || !method) {
  process.stderr.write('usage: ubus call OBJECT METHOD [JSON]\n');
  process.exit(2);
}
const socket = process.env.PROCD_DOUBLE_SOCKET;
if (!socket) {
  process.stderr.write('ubus: PROCD_DOUBLE_SOCKET is not set\n');
  process.exit(2);
}
let args;
try {
  args = JSON.parse(json);
} catch {
  process.stderr.write('Invalid argument\n');
  process.exit(2);
}
const conn = createConnection(socket, () => conn.write(`${JSON.stringify({ object, method, args })}\n`));
let reply = '';
conn.on('data', (b) => (reply += b.toString()));
conn.on('end', () => {
  const r = JSON.parse(reply);
  if (!r.ok) {
    process.stderr.write(`Command failed: ${r.error}\n`);
    process.exit(4);
  }
  if (Object.keys(r.reply).length) process.stdout.write(`${JSON.stringify(r.reply, null, '\t')}\n`);
});
conn.on('error', (e) => {
  process.stderr.write(`Failed to connect to ubus: ${e.message}\n`);
  process.exit(4);
});
