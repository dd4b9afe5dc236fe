// npm start: a sandbox root with a UCI config for the host runtime, the real daemons on
// loopback, the LuCI page on a local LuCI-like shell (test/support/luci-shell) whose /ubus is
// answered by the rpcd emulator running the real plugin, and how to use them all. Ctrl-C stops
// the daemons. Runs as `node --import tsx scripts/start.mjs` (the shell and emulator are TS).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const root = process.env.MAILSERVER_ROOT || `${repo}.sandbox`;
const mailctl = `${repo}rpcd/mailctl`;
const env = { ...process.env, MAILSERVER_ROOT: root };

if (process.getuid?.() !== 0) {
  console.error('npm start runs real Postfix and Dovecot, which must start as root: run it with sudo.');
  process.exit(1);
}

// High ports on 127.0.0.1 so nothing clashes with a mail server this machine may already run.
const ports = { smtp: 2525, submission: 2587, smtps: 2465, imap: 2143, imaps: 2993, pop3: 2110, pop3s: 2995, sieve: 4190 };
const uci = `${root}/etc/config/mailserver`;
mkdirSync(`${root}/etc/config`, { recursive: true });
chmodSync(root, 0o755);
if (!existsSync(uci)) {
  writeFileSync(
    uci,
    `
config mailserver 'main'
\toption enabled '1'
\toption hostname 'mail'
\toption domain 'example.com'
\toption postmaster 'postmaster'
\toption data_path '/srv/mailserver'
\toption runtime 'host'
\tlist listen '127.0.0.1'

config ports 'ports'
${Object.entries(ports).map(([k, v]) => `\toption ${k} '${v}'`).join('\n')}

config features 'features'
\toption quota '1'
\toption quota_default '1G'
\toption spam_remote '0'
`,
  );
}

const ctl = (...args) => spawnSync(mailctl, args, { env, stdio: ['pipe', 'inherit', 'inherit'], input: args.includes('--password-stdin') ? 'demo-password-1\n' : '' });
if (ctl('start').status !== 0) process.exit(1);
if (!existsSync(`${root}/srv/mailserver/mail/example.com/demo`)) {
  ctl('user', 'add', 'demo@example.com', '--password-stdin');
  ctl('user', 'add', 'postmaster@example.com', '--password-stdin');
}

// The LuCI page: build the app, then serve it the way a router's uhttpd + LuCI would.
const { buildUi } = await import('../src-ui/build.mjs');
const ui = await buildUi();
const { startRpcd } = await import('../test/support/rpcd-emulator.ts');
const { startShell } = await import('../test/support/luci-shell/server.ts');
// The README's logins: LuCI's mandatory `unauthenticated` and `luci-base`, then our group.
const logins = [
  { username: 'admin', password: 'admin-password-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver'], write: ['luci-app-mailserver'] },
  { username: 'viewer', password: 'viewer-password-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver'], write: [] },
  { username: 'helper', password: 'helper-password-1', read: ['unauthenticated', 'luci-base', 'luci-app-mailserver-accounts'], write: ['luci-app-mailserver-accounts'] },
];
const rpcd = await startRpcd({ env: { MAILSERVER_ROOT: root, PATH: `${process.env.PATH}:/usr/local/sbin:/usr/sbin:/sbin` }, logins });
const uiPort = Number(process.env.MAILSERVER_UI_PORT) || 8080;
const shell = await startShell({ rpcd, port: uiPort }).catch((e) => {
  if (e.code !== 'EADDRINUSE') throw e;
  console.error(`port ${uiPort} is taken: serving the page on a free port instead (set MAILSERVER_UI_PORT to choose)`);
  return startShell({ rpcd, port: 0 });
});

console.log(`
LuCI page:    ${shell.url}   (app ${(ui.gzip / 1024).toFixed(1)} KiB gzipped)
  full login:      admin / admin-password-1     (unauthenticated + luci-base + luci-app-mailserver, written too)
  read-only login: viewer / viewer-password-1   (the same groups, read only)
  accounts helper: helper / helper-password-1   (luci-app-mailserver-accounts: Services → Mail accounts)
Sandbox root: ${root}
  mailctl:    sudo MAILSERVER_ROOT=${root} ${mailctl} help
  mailbox:    demo@example.com / demo-password-1 (and postmaster@example.com, same password)
  SMTP        127.0.0.1:${ports.smtp}   submission 127.0.0.1:${ports.submission} (STARTTLS)   SMTPS 127.0.0.1:${ports.smtps}
  IMAP        127.0.0.1:${ports.imap} (STARTTLS)   IMAPS 127.0.0.1:${ports.imaps}   POP3 ${ports.pop3}/${ports.pop3s}   ManageSieve ${ports.sieve}
  logs:       ${root}/var/log/mailserver/
Press Ctrl-C to stop the daemons.`);

const stop = () => {
  rpcd.close();
  void shell.close();
  ctl('stop');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
