// DKIM verification for the system tests: python3-dkim (Debian's, hence /usr/bin/python3)
// resolving the keys through the test BIND.
import { spawnSync } from 'node:child_process';

export interface Signature {
  d: string;
  s: string;
  a: string;
  ok: boolean;
}

/** Every DKIM-Signature of a message, each verified against the DNS. */
export function verifyDkim(raw: string): Signature[] {
  const code = `
import sys, json, dkim, email
msg = sys.stdin.buffer.read()
heads = email.message_from_bytes(msg).get_all('DKIM-Signature') or []
out = []
for i, h in enumerate(heads):
    tags = dict((k.strip(), v.strip()) for k, v in (t.split('=', 1) for t in ''.join(h.split()).split(';') if '=' in t))
    try:
        good = dkim.DKIM(msg).verify(idx=i)
    except Exception as e:
        good = False
    out.append({'d': tags.get('d'), 's': tags.get('s'), 'a': tags.get('a'), 'ok': bool(good)})
print(json.dumps(out))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: raw, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dkim verify: ${r.stderr}`);
  return JSON.parse(r.stdout) as Signature[];
}
