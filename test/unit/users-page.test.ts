// A page of the users file cut without parsing every line is the page of the whole parse: for
// the file the store writes, and for files edited by hand (which take the whole parse).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseUsers, serializeUsers, sortedMailboxes, type Mailbox } from '../../src-rpc/store/accounts.ts';

const HASH = '{SHA512-CRYPT}$6$abcdefghijklmnop$4MjOne1jVRKP4IuHRPFedC4vlQHNjvcBfQJVlfB8ciQ5YUzW2g81Pyw4sptw4femJ071/eApI0WDsBAOOCmTl0';
const line = (email: string, quota = '') => `${email}:${HASH}::::::${quota}\n`;

/** What user_list showed before: every line parsed, sorted by address (addresses and quotas). */
function wholeParse(text: string): Pick<Mailbox, 'email' | 'quota'>[] {
  return [...parseUsers(text).values()].sort((x, y) => (x.email < y.email ? -1 : 1)).map(({ email, quota }) => ({ email, quota }));
}

test('the file the store writes is cut in place, page for page the same as the whole parse', () => {
  const boxes = new Map<string, Mailbox>();
  for (let i = 0; i < 2000; i++) {
    const email = `user${String((i * 7919) % 2000).padStart(5, '0')}+x@sub-${i % 3}.example.com`;
    boxes.set(email, { email, hash: HASH, quota: i % 5 === 0 ? 1024 ** 3 : i % 5 === 1 ? 0 : null });
  }
  const text = serializeUsers(boxes);
  const sorted = sortedMailboxes(text);
  if (!sorted) throw new Error('the store-written file was not recognised as sorted');
  const all = wholeParse(text);
  assert.is(sorted.total, all.length);
  for (const [from, to] of [[0, 25], [0, 1000], [1990, 2015], [5000, 5025], [0, 2000]] as const) assert.equal(sorted.slice(from, to), all.slice(from, to));
  const vouched = sortedMailboxes(text, true)!;
  assert.is(vouched.total, all.length);
  for (const [from, to] of [[0, 25], [1990, 2015], [0, 2000]] as const) assert.equal(vouched.slice(from, to), all.slice(from, to), 'a file the stamp vouches for: the same pages');
  assert.is(sortedMailboxes(text.trimEnd(), true), null, 'not a whole file: refused even when vouched for');
  const empty = sortedMailboxes('');
  assert.is(empty?.total, 0);
  assert.equal(empty?.slice(0, 10), []);
});

test('a file edited by hand is left to the whole parse', () => {
  const handEdited = {
    'upper case': line('b@example.com') + line('A@example.com', 'userdb_quota_rule=*:storage=1G'),
    comment: `# mailboxes\n${line('a@example.com')}`,
    'blank line': `${line('a@example.com')}\n${line('b@example.com')}`,
    unsorted: line('z@example.com') + line('b@example.com'),
    duplicate: line('b@example.com') + line('b@example.com', 'userdb_quota_rule=*:storage=2M'),
    'no final newline': line('a@example.com').trimEnd(),
    'no colon': `a@example.com\n${line('b@example.com')}`,
    'empty address': `:${HASH}::::::\n`,
    'non-ASCII address': line('é@example.com'),
    'space in the address': line('a b@example.com'),
  };
  for (const [what, text] of Object.entries(handEdited)) assert.is(sortedMailboxes(text), null, what);
});

test.run();
