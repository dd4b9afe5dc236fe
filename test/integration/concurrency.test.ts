// Writers racing and writers dying. rpcd runs calls in parallel, one process each, and kills a
// call that outlives its timeout with SIGKILL: neither may lose an account, leave a half-written
// file, or leave the write lock stuck. No daemons run here; postmap is real.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { makeSandbox, type Sandbox } from '../support/sandbox.ts';
import { databaseOf, dumpTable, tableType } from '../support/postfix-tables.ts';
import { MAILCTL, mailctl, mailctlAsync, ok, writeConfig } from '../support/mailctl.ts';

const boxes: Sandbox[] = [];
test.after(() => boxes.forEach((b) => b.cleanup()));

function sandbox(): string {
  const box = makeSandbox('mailserver-concurrency-');
  boxes.push(box);
  writeConfig(box.root);
  return box.root;
}

const configDir = (root: string) => join(root, 'srv/mailserver/config');
const uciFile = (root: string) => join(root, 'etc/config/mailserver');

/** The table type mailctl chose on this machine, the same for every sandbox. */
let typeSeen: string | undefined;
const mapType = (root: string) => (typeSeen ??= tableType(configDir(root)));
const MAPS = ['vdomains', 'vmailbox', 'virtual', 'senders'];

function postmapQuery(root: string, map: string, key: string): string | null {
  const r = spawnSync('postmap', ['-c', join(configDir(root), 'postfix'), '-q', key, `${mapType(root)}:${join(configDir(root), map)}`], { encoding: 'utf8' });
  if (r.status === 0) return r.stdout.trim();
  if (r.status === 1) return null;
  throw new Error(`postmap -q ${key} ${map}: exit ${r.status} ${r.stderr}`);
}

/** Every key → value of a built map database, or throws when it cannot be read. */
const postmapDump = (root: string, map: string) => dumpTable(join(configDir(root), 'postfix'), mapType(root), join(configDir(root), map));

// --- the store files as a user (or Dovecot, or postmap) reads them -------------------

const HASH = /^\{SHA512-CRYPT\}\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/;
const USER_LINE = /^([a-z0-9._+-]+@[a-z0-9.-]+):([^:]+)::::::(userdb_quota_rule=\S+)?$/;
const ADDRESS = /^@?[a-z0-9._+-]*@?[a-z0-9.-]+$/;

/** Lines of a complete text file: empty, or newline-terminated. Throws on a torn tail. */
function completeLines(name: string, text: string): string[] {
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${name} does not end with a newline (torn write?): ${JSON.stringify(text.slice(-80))}`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

function parseUsersStrict(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of completeLines('users', text)) {
    const m = USER_LINE.exec(line);
    if (!m || !HASH.test(m[2]!)) throw new Error(`users: malformed line ${JSON.stringify(line)}`);
    if (out.has(m[1]!)) throw new Error(`users: ${m[1]} twice`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

function parseValiasStrict(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of completeLines('valias', text)) {
    const m = /^(\S+) (\S+)$/.exec(line);
    const targets = m?.[2]!.split(',') ?? [];
    if (!m || !ADDRESS.test(m[1]!) || targets.some((t) => !ADDRESS.test(t) || !t.includes('@'))) throw new Error(`valias: malformed line ${JSON.stringify(line)}`);
    if (out.has(m[1]!)) throw new Error(`valias: ${m[1]} twice`);
    out.set(m[1]!, targets);
  }
  return out;
}

/** A Postfix map source as we render it: `key value` lines, sorted, unique keys. */
function parseMapStrict(name: string, text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last = '';
  for (const line of completeLines(name, text)) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`${name}: malformed line ${JSON.stringify(line)}`);
    if (m[1]! <= last) throw new Error(`${name}: keys not sorted/unique at ${m[1]}`);
    last = m[1]!;
    out.set(m[1]!, m[2]!);
  }
  return out;
}

interface Accounts {
  users: Map<string, string>;
  aliases: Map<string, string[]>;
}

function readAccounts(root: string): Accounts {
  return {
    users: parseUsersStrict(readFileSync(join(configDir(root), 'users'), 'utf8')),
    aliases: parseValiasStrict(readFileSync(join(configDir(root), 'valias'), 'utf8')),
  };
}

// --- the write operations of the kill test, and what each must leave behind -----------

type Op =
  | { kind: 'user add'; email: string; password: string }
  | { kind: 'user passwd'; email: string; password: string }
  | { kind: 'user del'; email: string }
  | { kind: 'alias add'; alias: string; targets: string[] }
  | { kind: 'alias del'; alias: string };

function argvOf(op: Op): { args: string[]; input: string } {
  switch (op.kind) {
    case 'user add':
      return { args: ['user', 'add', op.email, '--password-stdin'], input: `${op.password}\n` };
    case 'user passwd':
      return { args: ['user', 'passwd', op.email, '--password-stdin'], input: `${op.password}\n` };
    case 'user del':
      return { args: ['user', 'del', op.email], input: '' };
    case 'alias add':
      return { args: ['alias', 'add', op.alias, op.targets.join(',')], input: '' };
    case 'alias del':
      return { args: ['alias', 'del', op.alias], input: '' };
  }
}

/** The accounts a completed op leaves (hash of a new password: unknown, `null`). */
function expectedAfter(op: Op, before: Accounts): { users: Map<string, string | null>; aliases: Map<string, string[]> } {
  const users = new Map<string, string | null>(before.users);
  const aliases = new Map([...before.aliases].map(([k, v]) => [k, [...v]] as [string, string[]]));
  switch (op.kind) {
    case 'user add':
    case 'user passwd':
      users.set(op.email, null);
      break;
    case 'user del':
      users.delete(op.email);
      for (const [alias, targets] of aliases) {
        const rest = targets.filter((t) => t !== op.email);
        if (rest.length) aliases.set(alias, rest);
        else aliases.delete(alias);
      }
      break;
    case 'alias add':
      aliases.set(op.alias, [...new Set([...(aliases.get(op.alias) ?? []), ...op.targets])]);
      break;
    case 'alias del':
      aliases.delete(op.alias);
      break;
  }
  return { users, aliases };
}

const sortedKeys = (m: Map<string, unknown>) => [...m.keys()].sort();
const sameMap = <V>(a: Map<string, V>, b: Map<string, V>) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

/** Every regular file under the product's config trees, path relative to root → bytes. */
function snapshotFiles(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else out.set(path.slice(root.length + 1), readFileSync(path));
    }
  };
  walk(configDir(root));
  if (existsSync(uciFile(root))) out.set('etc/config/mailserver', readFileSync(uciFile(root)));
  return out;
}

/** A writer's temp file: ours are `.tmp-<name>...`; Berkeley DB's (postmap) `__db.<name>`. */
const isTemp = (path: string) => /^\.|^__db\.|\.tmp-/.test(path.split('/').pop()!);

const databases = (root: string, maps: string[]) => maps.map((m) => databaseOf(m, mapType(root)));

/** Files that must exist once written (others, such as temp files and markers, may come and go). */
const essential = (root: string) => new Set(['users', 'valias', 'format', 'main.cf', 'master.cf', 'dovecot.conf', ...MAPS, ...databases(root, MAPS)]);

/** Files these account commands never change: settings, daemon configuration, the format mark. */
const untouched = (root: string) => new Set(['etc/config/mailserver', 'format', 'main.cf', 'master.cf', 'dovecot.conf', 'vdomains', ...databases(root, ['vdomains'])]);

/**
 * After a kill: every file is its bytes from before the command, or the complete result of
 * the command; never a torn or half-applied one. Temp files may remain until the next write.
 */
function checkAfterKill(root: string, op: Op, before: Map<string, Buffer>, accountsBefore: Accounts): void {
  const now = snapshotFiles(root);
  const ESSENTIAL = essential(root);
  const UNTOUCHED = untouched(root);
  const database = databases(root, MAPS);
  const want = expectedAfter(op, accountsBefore);
  const where = `after killing \`${argvOf(op).args.join(' ')}\``;
  for (const path of before.keys()) {
    const name = path.split('/').pop()!;
    if (ESSENTIAL.has(name) || path === 'etc/config/mailserver') assert.ok(now.has(path), `${where}: ${path} vanished`);
  }
  const isAccount = (k: string) => want.users.has(k) || want.aliases.has(k) || /^(abuse|postmaster)@/.test(k);
  for (const [path, bytes] of now) {
    if (isTemp(path)) continue; // must be gone after the next command
    const old = before.get(path);
    if (old && old.equals(bytes)) continue;
    const name = path === 'etc/config/mailserver' ? path : path.split('/').pop()!;
    const text = bytes.toString('utf8');
    try {
      if (UNTOUCHED.has(name)) {
        assert.unreachable('changed although the command does not touch it');
      } else if (name === 'users') {
        const users = parseUsersStrict(text);
        assert.equal(sortedKeys(users), sortedKeys(want.users), 'users: neither the old nor the new set of mailboxes');
        for (const [email, hash] of want.users) if (hash !== null) assert.is(users.get(email), hash, `users: hash of ${email} changed`);
        if (op.kind === 'user passwd') assert.is.not(users.get(op.email), accountsBefore.users.get(op.email), 'users: rewritten without the new hash');
      } else if (name === 'valias') {
        assert.ok(sameMap(parseValiasStrict(text), want.aliases), `valias: neither old nor new: ${JSON.stringify(text)}`);
      } else if (name === 'vmailbox') {
        const map = parseMapStrict(name, text);
        assert.equal(sortedKeys(map), sortedKeys(want.users), 'vmailbox: keys are not the mailboxes after the command');
        for (const [email, value] of map) assert.is(value, `${email.split('@')[1]}/${email.split('@')[0]}/`);
      } else if (name === 'virtual') {
        const map = parseMapStrict(name, text);
        for (const [alias, targets] of want.aliases) assert.is(map.get(alias), targets.join(','), `virtual: alias ${alias}`);
        for (const [k, v] of map) {
          assert.ok(isAccount(k), `virtual: unexpected key ${k}`);
          if (want.users.has(k)) assert.is(v, k, `virtual: mailbox ${k} must map to itself`);
        }
      } else if (name === 'senders') {
        const map = parseMapStrict(name, text);
        for (const [k, v] of map) {
          assert.ok(isAccount(k), `senders: unexpected key ${k}`);
          for (const login of v.split(',')) assert.ok(want.users.has(login), `senders: ${k} owned by ${login}, no mailbox after the command`);
        }
      } else if (database.includes(name)) {
        postmapDump(root, MAPS[database.indexOf(name)]!); // readable, not torn
      } else {
        completeLines(name, text); // any other text file we render: at least not torn
      }
    } catch (e) {
      throw new Error(`${where}: ${path}: ${(e as Error).message}`);
    }
  }
}

/**
 * Programs the killed mailctl had started (postmap) outlive it, as they would under rpcd; wait
 * for them so the next command's sweep is not racing a file they are still about to create.
 * They are found by the sandbox path on their command line (nothing else uses it).
 */
async function waitForOrphans(root: string, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive: string[] = [];
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        if (cmdline.includes(root)) alive.push(`${pid}: ${cmdline}`);
      } catch {
        // gone meanwhile
      }
    }
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What Postfix looks up (the built databases) agrees with users and valias. */
function assertDatabasesMatchStore(root: string, when: string): void {
  const accounts = readAccounts(root);
  assert.equal(sortedKeys(postmapDump(root, 'vmailbox')), sortedKeys(accounts.users), `${when}: vmailbox database keys != users`);
  const virtual = postmapDump(root, 'virtual');
  for (const [alias, targets] of accounts.aliases) assert.is(virtual.get(alias), targets.join(','), `${when}: virtual database entry for ${alias}`);
  for (const [k, v] of virtual) {
    assert.ok(accounts.users.has(k) || accounts.aliases.has(k) || /^(abuse|postmaster)@/.test(k), `${when}: virtual database still has ${k} → ${v}`);
  }
}

function runKilled(root: string, op: Op, delayMs: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const { args, input } = argvOf(op);
  return new Promise((resolve) => {
    // The way rpcd kills a call that timed out: SIGKILL to that one process, nothing else.
    const child = spawn(MAILCTL, args, { env: { ...process.env, MAILSERVER_ROOT: root }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timed(root: string, args: string[], input = ''): number {
  const t = Date.now();
  ok(root, args, input);
  return Date.now() - t;
}

// --- tests ------------------------------------------------------------------------

test('20 concurrent `user add`: all succeed, none is lost from users, the list or the vmailbox map', async () => {
  const root = sandbox();
  ok(root, ['apply']); // a configured server: the racers do not also race to learn the daemons' facts
  const emails = Array.from({ length: 20 }, (_, i) => `racer${String(i).padStart(2, '0')}@example.com`);
  const results = await Promise.all(emails.map((email, i) => mailctlAsync(root, ['user', 'add', email, '--password-stdin'], `racer-password-${i}\n`)));
  results.forEach((r, i) => assert.is(r.code, 0, `${emails[i]}: exit ${r.code}: ${r.stderr}`));

  const list = JSON.parse(ok(root, ['user', 'list', '--json']).stdout) as { total: number; items: { email: string }[] };
  assert.equal(list.items.map((u) => u.email).sort(), emails);
  assert.is(list.total, 20);

  const users = parseUsersStrict(readFileSync(join(configDir(root), 'users'), 'utf8'));
  assert.equal(sortedKeys(users), emails);
  const vmailbox = parseMapStrict('vmailbox', readFileSync(join(configDir(root), 'vmailbox'), 'utf8'));
  assert.equal(sortedKeys(vmailbox), emails);
  for (const email of emails) assert.is(postmapQuery(root, 'vmailbox', email), `example.com/${email.split('@')[0]}/`, `postmap -q ${email}`);
  assert.is(postmapQuery(root, 'vmailbox', 'nobody@example.com'), null);

  // Each kept its own password: the last writer did not overwrite the others' hashes.
  for (const [i, email] of emails.entries()) {
    const r = spawnSync('doveadm', ['pw', '-t', users.get(email)!, '-p', `racer-password-${i}`], { encoding: 'utf8' });
    assert.is(r.status, 0, `${email}: ${r.stderr}`);
  }
  assert.equal([...snapshotFiles(root).keys()].filter(isTemp), [], 'temp files left behind');
});

test('SIGKILL at random points during 200 writes: never a torn file, never a stuck lock; apply converges', async () => {
  const root = sandbox();
  const started = Date.now();
  ok(root, ['apply']);
  ok(root, ['user', 'add', 'keeper@example.com', '--password-stdin'], 'keeper-password-0\n');
  for (let i = 0; i < 4; i++) ok(root, ['user', 'add', `seed${i}@example.com`, '--password-stdin'], `seed-password-${i}\n`);
  ok(root, ['alias', 'add', 'seedalias@example.com', 'seed0@example.com,seed1@example.com']);

  // How long a write takes here: the kill delays span 0 .. a bit more than that.
  const typical = median([
    timed(root, ['user', 'add', 'probe@example.com', '--password-stdin'], 'probe-password-1\n'),
    timed(root, ['user', 'passwd', 'probe@example.com', '--password-stdin'], 'probe-password-2\n'),
    timed(root, ['alias', 'add', 'probealias@example.com', 'probe@example.com'], ''),
    timed(root, ['alias', 'del', 'probealias@example.com'], ''),
    timed(root, ['user', 'del', 'probe@example.com'], ''),
  ]);
  // Machines (and their load) vary: steer the longest delay so that about a quarter of the
  // commands finish (their results are checked too) and the rest die somewhere on the way.
  let maxDelay = Math.min(Math.max(Math.round(typical * 1.2), 30), 800);
  const steer = (finished: boolean) => (maxDelay = Math.min(Math.max(maxDelay * (finished ? 0.91 : 1.03), 30), 1500));

  let serial = 0;
  const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
  // An admin whose command timed out often undoes it: those undos are where a half-applied
  // map update would survive (the accounts render the old map source again).
  const undoOf = (op: Op, a: Accounts): Op | null => {
    serial++;
    switch (op.kind) {
      case 'user add':
        return a.users.has(op.email) ? { kind: 'user del', email: op.email } : null;
      case 'user del':
        return a.users.has(op.email) ? null : { kind: 'user add', email: op.email, password: `password-${serial}-z` };
      case 'alias add':
        return a.aliases.has(op.alias) ? { kind: 'alias del', alias: op.alias } : null;
      case 'alias del': {
        const targets = aliasTargetsBeforeDel.get(op.alias) ?? [];
        return !a.aliases.has(op.alias) && targets.length && targets.every((t) => a.users.has(t)) ? { kind: 'alias add', alias: op.alias, targets } : null;
      }
      default:
        return null;
    }
  };
  const aliasTargetsBeforeDel = new Map<string, string[]>();
  const nextOp = (a: Accounts, lastKilled: Op | null): Op => {
    const undo = lastKilled && Math.random() < 0.6 ? undoOf(lastKilled, a) : null;
    if (undo) return undo;
    const users = [...a.users.keys()].filter((u) => u !== 'keeper@example.com');
    const aliases = [...a.aliases.keys()];
    const r = Math.random();
    serial++;
    if (users.length < 3 || (r < 0.3 && users.length < 25)) return { kind: 'user add', email: `u${serial}@example.com`, password: `password-${serial}-x` };
    if (r < 0.5) return { kind: 'user passwd', email: pick(users), password: `password-${serial}-y` };
    if (r < 0.7 || aliases.length === 0) {
      const targets = [...new Set([pick(users), pick([...users, 'keeper@example.com'])])];
      return { kind: 'alias add', alias: aliases.length && Math.random() < 0.3 ? pick(aliases) : `a${serial}@example.com`, targets };
    }
    if (r < 0.85) return { kind: 'alias del', alias: pick(aliases) };
    return { kind: 'user del', email: pick(users) };
  };

  const outcomes = { killed: 0, midway: 0, finished: 0 };
  let lastKilled: Op | null = null;
  let slowest = 0;
  for (let i = 0; i < 200; i++) {
    const before = snapshotFiles(root);
    const accounts = readAccounts(root);
    const op = nextOp(accounts, lastKilled);
    if (op.kind === 'alias del') aliasTargetsBeforeDel.set(op.alias, accounts.aliases.get(op.alias) ?? []);
    const delay = Math.random() * maxDelay;
    const r = await runKilled(root, op, delay);
    lastKilled = r.signal === 'SIGKILL' ? op : null;
    steer(r.signal !== 'SIGKILL');
    if (r.signal === 'SIGKILL') outcomes.killed++;
    else {
      outcomes.finished++;
      assert.is(r.code, 0, `\`${argvOf(op).args.join(' ')}\` (not killed) exited ${r.code}: ${r.stderr.trim()}`);
      // A mailbox or alias change that reported success is what Postfix now looks up, whatever
      // earlier killed commands left half done.
      if (op.kind !== 'user passwd') assertDatabasesMatchStore(root, `after \`${argvOf(op).args.join(' ')}\` succeeded`);
    }
    const orphans = await waitForOrphans(root);
    assert.equal(orphans, [], 'programs started by the killed command still run after 5 s');
    checkAfterKill(root, op, before, accounts);
    if (r.signal === 'SIGKILL') {
      const after = snapshotFiles(root);
      if ([...after].some(([p, b]) => !isTemp(p) && !before.get(p)?.equals(b))) outcomes.midway++;
    }

    // The next write takes the lock at once (the kernel freed it) and sweeps the temp files.
    const t = Date.now();
    const next = mailctl(root, ['user', 'passwd', 'keeper@example.com', '--password-stdin'], `keeper-password-${i + 1}\n`);
    const took = Date.now() - t;
    slowest = Math.max(slowest, took);
    assert.is(next.code, 0, `write after killing \`${argvOf(op).args.join(' ')}\` at ${delay.toFixed(0)} ms: ${next.stderr}`);
    const leftovers = [...snapshotFiles(root).keys()].filter(isTemp);
    assert.equal(leftovers, [], `files left behind after killing \`${argvOf(op).args.join(' ')}\` at ${delay.toFixed(0)} ms`);
  }
  // The kills must have hit commands while they were writing, not only before or after.
  assert.ok(outcomes.killed >= 50, `only ${outcomes.killed} of 200 were killed (max delay ${Math.round(maxDelay)} ms)`);
  assert.ok(outcomes.finished >= 10, `only ${outcomes.finished} of 200 finished (max delay ${Math.round(maxDelay)} ms)`);
  assert.ok(outcomes.midway >= 10, `only ${outcomes.midway} kills landed after a command had written something (max delay ${Math.round(maxDelay)} ms)`);

  // apply brings every map in line with the store, source and database alike.
  ok(root, ['apply']);
  const accounts = readAccounts(root);
  const emails = sortedKeys(accounts.users);
  const vmailbox = parseMapStrict('vmailbox', readFileSync(join(configDir(root), 'vmailbox'), 'utf8'));
  assert.equal(sortedKeys(vmailbox), emails, 'vmailbox source keys == users');
  assert.equal(sortedKeys(postmapDump(root, 'vmailbox')), emails, 'vmailbox database keys == users');
  assertDatabasesMatchStore(root, 'after apply');
  for (const map of MAPS) {
    const source = parseMapStrict(map, readFileSync(join(configDir(root), map), 'utf8'));
    const db = postmapDump(root, map);
    assert.ok(sameMap(db, source), `${map}: database differs from its source: database ${JSON.stringify([...db].sort())}, source ${JSON.stringify([...source].sort())}`);
  }
  const virtual = parseMapStrict('virtual', readFileSync(join(configDir(root), 'virtual'), 'utf8'));
  for (const [alias, targets] of accounts.aliases) {
    assert.is(virtual.get(alias), targets.join(','), `virtual: ${alias}`);
    for (const t of targets) assert.ok(accounts.users.has(t), `alias ${alias} points to ${t}, which is no mailbox`);
  }
  const list = JSON.parse(ok(root, ['user', 'list', '--json']).stdout) as { items: { email: string }[] };
  assert.equal(list.items.map((u) => u.email).sort(), emails);
  // keeper's last password is the one Dovecot would check.
  const keeper = spawnSync('doveadm', ['pw', '-t', accounts.users.get('keeper@example.com')!, '-p', 'keeper-password-200'], { encoding: 'utf8' });
  assert.is(keeper.status, 0, keeper.stderr);
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`  kill test: ${outcomes.killed} killed (${outcomes.midway} after writing something), ${outcomes.finished} finished, last delays 0..${Math.round(maxDelay)} ms, slowest next write ${slowest} ms, ${seconds.toFixed(1)} s\n`);
});

test.run();
