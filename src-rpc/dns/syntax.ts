// Syntax of the TXT records we check: SPF (RFC 7208), DMARC (RFC 7489), DKIM keys (RFC 6376).
// Each returns the problems found (empty = valid) so the check can show them next to the record.

export function isSpf(txt: string): boolean {
  return /^v=spf1(\s|$)/i.test(txt);
}

const QUALIFIED = /^[+\-~?]?(all|include:\S+|a(?::\S+)?(?:\/\d+)?(?:\/\/\d+)?|mx(?::\S+)?(?:\/\d+)?(?:\/\/\d+)?|ptr(?::\S+)?|ip4:[0-9.]+(?:\/\d{1,2})?|ip6:[0-9a-fA-F:.]+(?:\/\d{1,3})?|exists:\S+)$/i;
const MODIFIER = /^(redirect|exp)=\S+$|^[a-z][a-z0-9_.-]*=\S*$/i;

export interface SpfFacts {
  problems: string[];
  /** The `all` term with its qualifier ("~all"), if any. */
  all: string | null;
  /** Does the record name our mail host: mx, a:<host> or ip4:<address>. */
  coversHost: boolean;
}

export function checkSpf(txt: string, host: string, ip4: string | null): SpfFacts {
  const problems: string[] = [];
  const terms = txt.trim().split(/\s+/);
  if (terms[0]?.toLowerCase() !== 'v=spf1') problems.push('does not start with v=spf1');
  let all: string | null = null;
  let covers = false;
  let lookups = 0;
  for (const t of terms.slice(1)) {
    if (QUALIFIED.test(t)) {
      const bare = t.replace(/^[+\-~?]/, '').toLowerCase();
      if (bare === 'all') all = t.length === 3 ? `+all` : t;
      if (/^(include:|a(:|$|\/)|mx(:|$|\/)|ptr|exists:)/.test(bare)) lookups++;
      if (bare === 'mx' || bare === `a:${host}` || (ip4 && (bare === `ip4:${ip4}` || bare === `ip4:${ip4}/32`))) covers = true;
    } else if (MODIFIER.test(t)) {
      if (/^redirect=/i.test(t)) lookups++;
    } else {
      problems.push(`unknown term ${JSON.stringify(t.slice(0, 40))}`);
    }
  }
  if (lookups > 10) problems.push(`needs ${lookups} DNS lookups (at most 10 allowed)`);
  if (all === '+all') problems.push('+all lets anyone send as this domain');
  return { problems, all, coversHost: covers };
}

/** DMARC / DKIM style tag list: "k=v; k=v". Null when it is not one. */
export function tags(txt: string): Map<string, string> | null {
  const out = new Map<string, string>();
  for (const part of txt.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) return null;
    out.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return out;
}

export function checkDmarc(txt: string): { problems: string[]; policy: string | null; rua: string | null } {
  const problems: string[] = [];
  const t = tags(txt);
  if (!t) return { problems: ['is not a list of tag=value pairs'], policy: null, rua: null };
  if (!/^v=DMARC1\s*(;|$)/.test(txt.trim())) problems.push('must start with v=DMARC1');
  const p = t.get('p') ?? null;
  if (p === null) problems.push('has no p= policy');
  else if (!['none', 'quarantine', 'reject'].includes(p.toLowerCase())) problems.push(`p=${p} is not none, quarantine or reject`);
  const sp = t.get('sp');
  if (sp !== undefined && !['none', 'quarantine', 'reject'].includes(sp.toLowerCase())) problems.push(`sp=${sp} is not none, quarantine or reject`);
  const pct = t.get('pct');
  if (pct !== undefined && !/^(100|[1-9]?[0-9])$/.test(pct)) problems.push(`pct=${pct} is not 0-100`);
  const rua = t.get('rua') ?? null;
  if (rua !== null) {
    for (const uri of rua.split(',')) {
      if (!/^mailto:[^@\s]+@[^@\s]+$/i.test(uri.trim().replace(/!\d+[kmgt]?$/i, ''))) problems.push(`rua ${JSON.stringify(uri.trim().slice(0, 60))} is not a mailto: address`);
    }
  }
  return { problems, policy: p?.toLowerCase() ?? null, rua };
}

export function dkimKeyOf(txt: string): { algorithm: string; publicKey: string } | null {
  const t = tags(txt);
  if (!t) return null;
  const v = t.get('v');
  if (v !== undefined && v !== 'DKIM1') return null;
  const p = t.get('p');
  if (p === undefined) return null;
  return { algorithm: (t.get('k') ?? 'rsa').toLowerCase(), publicKey: p.replace(/\s+/g, '') };
}
