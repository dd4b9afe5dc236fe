// Webmail and client autoconfig, end to end inside the test network namespace: Debian's
// Roundcube (its own code, a sandbox copy of its config directory, SQLite in the sandbox)
// served by PHP's built-in web server, logging in over HTTP like a browser to real Postfix and
// Dovecot; the autoconfig documents read with real parsers and their advertised settings tried
// against the running listeners.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSandbox, waitForPort, insideTestNetns, runMailClient, waitForSubject, eventually } from '../support/sandbox.ts';
import { mailctl, ok, writeConfig } from '../support/mailctl.ts';
import { nsupdate, setUci } from '../support/dns.ts';

const box = makeSandbox();
const root = box.root;
const DATA = join(root, 'srv/mailserver');
const RC_CONFIG_DIR = join(root, 'etc/roundcube');
const RC_CONFIG = join(RC_CONFIG_DIR, 'config.inc.php');
const RC_LOG_DIR = join(root, 'var/log/roundcube');
const WEBMAIL = 'http://127.0.0.1:8026';
const ALICE = { user: 'alice@example.com', password: 'alice webmail pass 1' };
const CLIENT_CONFIG_PY = join(dirname(fileURLToPath(import.meta.url)), '../support/client-config.py');
let php: ChildProcess | undefined;

const status = () => JSON.parse(ok(root, ['webmail', 'status', '--json']).stdout);

/** The Roundcube owner's own settings: a copy of Debian's config dir with SQLite and logs in the sandbox. */
function installSandboxRoundcube(): void {
  cpSync('/etc/roundcube', RC_CONFIG_DIR, { recursive: true, preserveTimestamps: true });
  for (const d of ['var/lib/roundcube', 'var/log/roundcube', 'tmp/roundcube']) mkdirSync(join(root, d), { recursive: true });
  const debian = readFileSync(RC_CONFIG, 'utf8');
  const include = 'include("/etc/roundcube/debian-db-roundcube.php");';
  assert.ok(debian.includes(include), "Debian's config.inc.php includes its dbconfig file");
  writeFileSync(
    RC_CONFIG,
    debian.replace(
      include,
      [
        `$config['db_dsnw'] = 'sqlite:///${root}/var/lib/roundcube/roundcube.db?mode=0640';`,
        `$config['log_dir'] = '${RC_LOG_DIR}/';`,
        `$config['temp_dir'] = '${root}/tmp/roundcube/';`,
        '// hand-made: the owner keeps drafts every two minutes',
        "$config['draft_autosave'] = 120;",
      ].join('\n'),
    ),
  );
}

async function startRoundcube(): Promise<void> {
  php = spawn('php', ['-S', '127.0.0.1:8026', '-t', '/var/lib/roundcube/public_html'], {
    env: { ...process.env, ROUNDCUBE_CONFIG_DIR: RC_CONFIG_DIR },
    stdio: 'ignore',
  });
  await waitForPort('127.0.0.1', 8026, 15_000);
}

// ---- a browser's part of Roundcube's login, by hand ----

class Browser {
  cookies = new Map<string, string>();
  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.keep(await fetch(`${WEBMAIL}${path}`, { redirect: 'manual', headers: { cookie: this.cookie(), ...headers } }));
  }
  async post(path: string, form: Record<string, string>): Promise<Response> {
    return this.keep(
      await fetch(`${WEBMAIL}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: this.cookie(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      }),
    );
  }
  private cookie(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  private keep(r: Response): Response {
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const value = pair!.slice(i + 1);
      if (value === '-del-' || value === '') this.cookies.delete(pair!.slice(0, i));
      else this.cookies.set(pair!.slice(0, i), value);
    }
    return r;
  }
}

const requestToken = (html: string) => /"request_token":"([^"]+)"/.exec(html)?.[1];

/** Log in through the form; the answer to the POST (a redirect to the mail task on success). */
async function login(b: Browser, user: string, password: string): Promise<Response> {
  const page = await (await b.get('/')).text();
  const token = requestToken(page);
  assert.ok(token, 'the login page carries a request token');
  assert.ok(b.cookies.has('roundcube_sessid'), 'the login page sets the session cookie');
  return b.post('/?_task=login', { _token: token!, _task: 'login', _action: 'login', _timezone: 'UTC', _url: '', _user: user, _pass: password });
}

test.before(async () => {
  if (!insideTestNetns()) throw new Error('run through test/run.mjs (needs the test network namespace)');
  for (const need of ['/usr/bin/php', '/var/lib/roundcube/public_html/index.php', '/etc/roundcube/config.inc.php', '/usr/share/roundcube/plugins/managesieve']) {
    if (!existsSync(need)) throw new Error(`${need} is missing: run scripts/setup.sh (php-cli, roundcube-core, roundcube-sqlite3, roundcube-plugins)`);
  }
  // Where Roundcube's files are (these are the defaults, named so the options' effects are on record).
  writeConfig(root, {
    extra:
      "\nconfig webmail 'webmail'\n\toption product_name 'Family Mail'\n\toption config_path '/etc/roundcube/config.inc.php'\n\toption log_path '/var/log/roundcube/errors.log'\n" +
      "\nconfig autoconfig 'autoconfig'\n\toption enabled '1'\n\toption docroot '/www'\n",
  });
  ok(root, ['start']);
  for (const port of [25, 587, 465, 143, 993, 995, 4190]) await waitForPort('127.0.0.1', port, 15_000);
  ok(root, ['user', 'add', ALICE.user, '--password-stdin'], `${ALICE.password}\n`);
});

test.after(() => {
  php?.kill();
  mailctl(root, ['stop']);
  box.cleanup();
});

test('status: Roundcube not installed; configure refuses and creates nothing', () => {
  const s = status();
  assert.is(s.state, 'not_installed');
  assert.is(s.installed, false);
  assert.is(s.http.reached, false);
  const r = mailctl(root, ['webmail', 'configure']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /not installed/);
  assert.not.ok(existsSync(RC_CONFIG));
});

test("status: installed and answering, but not pointed at us (Debian's own settings)", async () => {
  installSandboxRoundcube();
  await startRoundcube();
  const s = status();
  assert.is(s.state, 'not_configured', s.summary);
  assert.is(s.installed, true);
  assert.is(s.block, 'absent');
  assert.is(s.http.loginPage, true, JSON.stringify(s.http));
  assert.match(s.http.version, /^1\.6\.\d+$/);
  assert.is(s.http.productName, 'Roundcube Webmail');
});

test('webmail.enabled 0: configure refuses, naming the option, and leaves Roundcube as it was', () => {
  const before = readFileSync(RC_CONFIG);
  setUci(root, 'webmail', 'enabled', '0');
  const r = mailctl(root, ['webmail', 'configure']);
  setUci(root, 'webmail', 'enabled', '1');
  assert.is(r.code, 1);
  assert.match(r.stderr, /webmail\.enabled/);
  assert.ok(readFileSync(RC_CONFIG).equals(before), 'config.inc.php unchanged');
});

let configured = '';

test('configure: our block with TLS to our host, pinned certificate, des_key 0600; the owner\'s lines kept; status ok', async () => {
  const before = readFileSync(RC_CONFIG, 'utf8');
  const mode = statSync(RC_CONFIG).mode & 0o777;
  const r = mailctl(root, ['webmail', 'configure', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(out.changed.some((f: string) => f.endsWith('config.inc.php')));
  configured = readFileSync(RC_CONFIG, 'utf8');
  assert.ok(configured.startsWith(before.replace(/\n*$/, '')), 'every byte before our block is the owner\'s, unchanged');
  assert.match(configured, /hand-made: the owner keeps drafts/);
  assert.match(configured, /\$config\['imap_host'\] = 'ssl:\/\/mail\.example\.com:993';/);
  assert.match(configured, /\$config\['smtp_host'\] = 'tls:\/\/mail\.example\.com:587';/);
  assert.match(configured, /\$config\['managesieve_host'\] = 'tls:\/\/mail\.example\.com:4190';/);
  assert.match(configured, /'verify_peer' => true/);
  assert.not.match(configured.slice(configured.indexOf('// BEGIN secubox')), /verify_peer' => false/);
  assert.is(statSync(RC_CONFIG).mode & 0o777, mode, "the file keeps the owner's mode");
  const desKey = readFileSync(join(DATA, 'secrets/roundcube-des-key'), 'utf8').trim();
  assert.is(desKey.length, 24);
  assert.is(statSync(join(DATA, 'secrets/roundcube-des-key')).mode & 0o777, 0o600);
  assert.ok(configured.includes(`'${desKey}'`));
  // The self-signed certificate is pinned: Roundcube trusts exactly the one the listeners serve.
  assert.is(readFileSync(join(RC_CONFIG_DIR, 'secubox-mailserver-ca.pem'), 'utf8').trim(), readFileSync(join(DATA, 'ssl/fullchain.pem'), 'utf8').trim().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
  // PHP's built-in server keeps compiled files in OPcache and looks at their mtime at most every
  // opcache.revalidate_freq (Debian: 2 s): a page asked for just after the rewrite may still be
  // built from the old config.inc.php, as with php-fpm on a router.
  let s = status();
  await eventually(async () => (s = status()).http.productName === 'Family Mail', 10_000, 500);
  assert.is(s.state, 'ok', s.summary);
  assert.is(s.block, 'current');
  assert.equal(s.endpoints, { imap: 'ssl://mail.example.com:993', smtp: 'tls://mail.example.com:587', sieve: 'tls://mail.example.com:4190', certificate: 'pinned' });
  assert.is(s.http.productName, 'Family Mail', 'product_name from UCI reaches the login page');
});

test('configure twice changes no byte; a hand-made line outside our block survives', () => {
  const mtime = statSync(RC_CONFIG).mtimeMs;
  const out = JSON.parse(ok(root, ['webmail', 'configure', '--json']).stdout);
  assert.equal(out.changed, []);
  assert.is(readFileSync(RC_CONFIG, 'utf8'), configured);
  assert.is(statSync(RC_CONFIG).mtimeMs, mtime);
  // The owner adds a line after our block; a changed setting rewrites only the block.
  writeFileSync(RC_CONFIG, `${configured}// the owner's last word\n$config['support_url'] = 'https://help.example.net/';\n`);
  ok(root, ['webmail', 'configure']);
  const after = readFileSync(RC_CONFIG, 'utf8');
  assert.match(after, /\/\/ the owner's last word\n\$config\['support_url'\] = 'https:\/\/help\.example\.net\/';\n$/);
  assert.is(after, `${configured}// the owner's last word\n$config['support_url'] = 'https://help.example.net/';\n`);
});

test('a real Roundcube login reads a message sent by SMTP; over TLS to Dovecot', async () => {
  const subject = `webmail check ${Date.now()}`;
  const sent = await runMailClient({ action: 'send', host: '127.0.0.1', port: 25, tls: 'starttls', from: 'friend@example.net', to: [ALICE.user], subject, body: 'hello from afar' });
  assert.is(sent.ok, true, JSON.stringify(sent));
  assert.ok(await waitForSubject(ALICE.user, ALICE.password, subject));

  const b = new Browser();
  const r = await login(b, ALICE.user, ALICE.password);
  assert.is(r.status, 302, `login answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
  assert.match(r.headers.get('location') ?? '', /_task=mail/);
  assert.ok(b.cookies.has('roundcube_sessauth'), 'an authenticated session cookie');
  const mailPage = await (await b.get('/?_task=mail&_mbox=INBOX')).text();
  const token = requestToken(mailPage);
  assert.ok(token, 'the mail page carries a request token');
  const list = await b.get(`/?_task=mail&_action=list&_mbox=INBOX&_remote=1&_page=1`, { 'x-roundcube-request': token!, 'x-requested-with': 'XMLHttpRequest' });
  assert.is(list.status, 200);
  const body = await list.text();
  assert.ok(body.includes(subject), `the message list has the subject: ${body.slice(0, 500)}`);

  // Dovecot logged Roundcube's login (from 127.0.0.1, where the PHP server runs) as TLS.
  const dovecotLog = () => readFileSync(join(root, 'var/log/mailserver/dovecot.log'), 'utf8');
  const roundcubeLogins = () => dovecotLog().split('\n').filter((l) => /imap-login: (?:Info: )?Login: user=<alice@example\.com>/.test(l) && /rip=127\.0\.0\.1,/.test(l));
  assert.ok(await eventually(async () => roundcubeLogins().length > 0, 5000), 'Dovecot logged the webmail login');
  for (const l of roundcubeLogins()) assert.match(l, /, TLS/, l);
});

test('a wrong password is refused, and status shows the failed login from Roundcube\'s log', async () => {
  const b = new Browser();
  const r = await login(b, ALICE.user, 'not the password');
  assert.is.not(r.status, 302);
  assert.not.ok(b.cookies.has('roundcube_sessauth'));
  assert.match(await r.text(), /"task":"login"/);
  const s = status();
  assert.match(s.lastLoginError ?? '', /alice@example\.com/);
});

test('verification is on: with another certificate pinned Roundcube refuses the server; configure pins ours again', async () => {
  const pinned = join(RC_CONFIG_DIR, 'secubox-mailserver-ca.pem');
  const ours = readFileSync(pinned, 'utf8');
  const other = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=mail.example.com', '-addext', 'subjectAltName=DNS:mail.example.com', '-days', '5'], { encoding: 'utf8' });
  assert.is(other.status, 0, other.stderr);
  writeFileSync(pinned, other.stdout);
  assert.is(status().state, 'stale', 'status sees the pinned certificate is not the served one');
  const refused = await login(new Browser(), ALICE.user, ALICE.password);
  assert.is.not(refused.status, 302, 'no login through a server the pinned certificate does not vouch for');
  assert.match(readFileSync(join(RC_LOG_DIR, 'errors.log'), 'utf8'), /certificate verify failed/, "Roundcube's log says why");
  const out = JSON.parse(ok(root, ['webmail', 'configure', '--json']).stdout);
  assert.equal(out.changed, [pinned]);
  assert.is(readFileSync(pinned, 'utf8'), ours);
  assert.is((await login(new Browser(), ALICE.user, ALICE.password)).status, 302);
});

test('status: a changed setting makes our block stale until configure runs again', () => {
  const file = join(root, 'etc/config/mailserver');
  const uci = readFileSync(file, 'utf8');
  setUci(root, 'webmail', 'product_name', 'Other Mail');
  try {
    assert.is(status().state, 'stale');
  } finally {
    writeFileSync(file, uci);
  }
  assert.is(status().state, 'ok');
});

// ---- client autoconfig ----

function readDocument(kind: 'thunderbird' | 'autodiscover' | 'mobileconfig', data: string) {
  const r = spawnSync('/usr/bin/python3', [CLIENT_CONFIG_PY, kind], { input: data, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { ok: boolean; error?: string; servers: Server[]; error_code?: string; payload_keys?: string[] };
}
interface Server {
  protocol: 'imap' | 'pop3' | 'smtp';
  host: string;
  port: number;
  tls: 'implicit' | 'starttls' | 'none';
  username: string;
}

/** Connect with exactly what the document advertises and log in as alice. */
async function tryServer(s: Server): Promise<{ ok: boolean; detail: string }> {
  const user = s.username.replace('%EMAILADDRESS%', ALICE.user);
  assert.is.not(s.tls, 'none', `${s.protocol} ${s.port} must not be plaintext`);
  const endpoint = { host: s.host, port: s.port, tls: s.tls as 'implicit' | 'starttls', user, password: ALICE.password };
  if (s.protocol === 'imap') {
    const r = await runMailClient({ action: 'imap_login', ...endpoint });
    return { ok: r.ok, detail: JSON.stringify(r) };
  }
  if (s.protocol === 'pop3') {
    const r = await runMailClient({ action: 'pop3_fetch', ...endpoint });
    return { ok: r.ok, detail: JSON.stringify(r).slice(0, 300) };
  }
  const r = await runMailClient({ action: 'smtp_auth_probe', ...endpoint });
  const phase = r.ok ? r.after_tls : null;
  return { ok: phase?.auth.ok === true, detail: JSON.stringify(r) };
}

const EXPECTED = [
  { protocol: 'imap', port: 993, tls: 'implicit' },
  { protocol: 'imap', port: 143, tls: 'starttls' },
  { protocol: 'pop3', port: 995, tls: 'implicit' },
  { protocol: 'smtp', port: 587, tls: 'starttls' },
  { protocol: 'smtp', port: 465, tls: 'implicit' },
];

test("Thunderbird's autoconfig document parses as Thunderbird requires; every server it names accepts alice", async () => {
  const a = readFileSync(join(root, 'www/.well-known/autoconfig/mail/config-v1.1.xml'), 'utf8');
  assert.is(readFileSync(join(root, 'www/mail/config-v1.1.xml'), 'utf8'), a, 'both URLs serve the same document');
  const doc = readDocument('thunderbird', a);
  assert.ok(doc.ok, doc.error);
  assert.equal(doc.servers.map(({ protocol, port, tls }) => ({ protocol, port, tls })), EXPECTED);
  for (const s of doc.servers) {
    assert.is(s.host, 'mail.example.com');
    assert.is(s.username, '%EMAILADDRESS%');
    const tried = await tryServer(s);
    assert.ok(tried.ok, `${s.protocol} ${s.port} ${s.tls}: ${tried.detail}`);
  }
});

function autodiscoverPost(body: string): { headers: string; xml: string } {
  const cgi = join(root, 'www/cgi-bin/mailserver-autodiscover');
  assert.is(statSync(cgi).mode & 0o777, 0o755);
  const r = spawnSync(cgi, [], {
    input: body,
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(Buffer.byteLength(body)), CONTENT_TYPE: 'text/xml', GATEWAY_INTERFACE: 'CGI/1.1' },
  });
  assert.is(r.status, 0, r.stderr);
  const split = r.stdout.indexOf('\r\n\r\n');
  return { headers: r.stdout.slice(0, split), xml: r.stdout.slice(split + 4) };
}

const outlookRequest = (email: string) =>
  `<?xml version="1.0" encoding="utf-8"?>\r\n<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">\r\n  <Request>\r\n    <EMailAddress>${email}</EMailAddress>\r\n    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n  </Request>\r\n</Autodiscover>\r\n`;

test('the Autodiscover POST (run as uhttpd runs the CGI) answers the same settings for the address asked', async () => {
  const { headers, xml } = autodiscoverPost(outlookRequest('Alice@Example.com'));
  assert.match(headers, /^Content-Type: application\/xml/);
  const doc = readDocument('autodiscover', xml);
  assert.ok(doc.ok, doc.error);
  assert.equal(doc.servers.map(({ protocol, port, tls }) => ({ protocol, port, tls })), [EXPECTED[0], EXPECTED[2], EXPECTED[3]]);
  for (const s of doc.servers) {
    assert.is(s.username, ALICE.user);
    const tried = await tryServer(s);
    assert.ok(tried.ok, `${s.protocol} ${s.port}: ${tried.detail}`);
  }
  // Not our domain, or markup in the address: the error answer, nothing echoed.
  for (const bad of ['someone@elsewhere.example', 'x</LoginName><Evil>@example.com']) {
    const r = autodiscoverPost(outlookRequest(bad));
    const d = readDocument('autodiscover', r.xml);
    assert.ok(d.ok, d.error);
    assert.is(d.error_code, '600');
    assert.not.match(r.xml, /Evil|elsewhere/);
  }
});

test('the Apple profile for a mailbox parses as a plist, names the same servers, and holds no password', () => {
  const profile = JSON.parse(ok(root, ['user', 'profile', ALICE.user, '--json']).stdout);
  assert.is(profile.filename, 'alice@example.com.mobileconfig');
  const doc = readDocument('mobileconfig', profile.content);
  assert.ok(doc.ok, doc.error);
  assert.equal(doc.servers.map(({ protocol, host, port, username }) => ({ protocol, host, port, username })), [
    { protocol: 'imap', host: 'mail.example.com', port: 993, username: ALICE.user },
    { protocol: 'smtp', host: 'mail.example.com', port: 587, username: ALICE.user },
  ]);
  assert.not.ok(doc.payload_keys!.some((k) => /Password$/.test(k) && k !== 'OutgoingPasswordSameAsIncomingPassword'), doc.payload_keys!.join(' '));
  assert.not.ok(profile.content.includes(ALICE.password));
  assert.is(mailctl(root, ['user', 'profile', 'nobody@example.com']).code, 1);
});

test('dns records names autoconfig/autodiscover and the Autodiscover SRV; dns-check finds them once published', () => {
  // (exit 1: the sandbox has no public address to publish; the records are listed all the same)
  const list = JSON.parse(mailctl(root, ['dns', 'records', '--json']).stdout).records as { name: string; type: string; value: string }[];
  const find = (name: string, type: string) => list.find((r) => r.name === name && r.type === type);
  assert.is(find('autoconfig.example.com', 'CNAME')?.value, 'mail.example.com.');
  assert.is(find('autodiscover.example.com', 'CNAME')?.value, 'mail.example.com.');
  assert.is(find('_autodiscover._tcp.example.com', 'SRV')?.value, '0 1 443 mail.example.com.');
  const rows = () => (JSON.parse(mailctl(root, ['dns-check', '--json']).stdout).records as { name: string; type: string; status: string }[]).filter((r) => /autoconfig|autodiscover/.test(r.name));
  assert.equal(rows().map((r) => r.status), ['missing', 'missing', 'missing']);
  nsupdate('example.com', [
    'update add autoconfig.example.com. 300 CNAME mail.example.com.',
    'update add autodiscover.example.com. 300 CNAME mail.example.com.',
    'update add _autodiscover._tcp.example.com. 300 SRV 0 1 443 mail.example.com.',
  ]);
  assert.equal(rows().map((r) => r.status), ['ok', 'ok', 'ok']);
});

test.run();
