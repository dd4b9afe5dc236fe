// Webmail (Roundcube pointed at this server) and the account profiles clients set themselves up
// from. The work is in webmail/ and render/autoconfig.ts.
import { arg } from './args.ts';
import { method } from './method.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { MailError } from '../core/errors.ts';
import { configureWebmail, webmailStatus, type WebmailStatus } from '../webmail/roundcube.ts';
import { mailboxProfile } from '../webmail/profile.ts';

const statusText = (r: WebmailStatus) =>
  [
    `webmail: ${r.summary}`,
    `  config:   ${r.configPath} (${r.installed ? `our block ${r.block}` : 'missing'})`,
    ...(r.endpoints ? [`  imap:     ${r.endpoints.imap}`, `  smtp:     ${r.endpoints.smtp}`, `  sieve:    ${r.endpoints.sieve ?? 'off'}`, `  verifies: ${r.endpoints.certificate}`] : []),
    `  http:     ${r.http.url} ${r.http.loginPage ? `login page${r.http.version ? `, Roundcube ${r.http.version}` : ''}${r.http.productName ? ` ("${r.http.productName}")` : ''}` : `not answering: ${r.http.error}`}`,
    ...(r.lastLoginError ? [`  last login error: ${r.lastLoginError}`] : []),
  ].join('\n');

export const webmailMethods = [
  method({
    name: 'webmail_status',
    access: 'read',
    doc: 'Roundcube: installed, pointed at this server (host, ports, TLS), its login page answering, last login error',
    cli: ['webmail', 'status'],
    args: {},
    handler: (_a, ctx) => webmailStatus(ctx),
    text: statusText,
  }),
  method({
    name: 'webmail_configure',
    access: 'write',
    job: true,
    doc: "Point Roundcube at this server: our block in its config.inc.php (TLS verified, des_key, product name); the rest of the file is kept",
    cli: ['webmail', 'configure'],
    args: {},
    handler: (_a, ctx) => configureWebmail(ctx, withWriteLock),
    text: (r) => `${r.changed.length ? `wrote ${r.changed.join(', ')}` : `${r.configPath} already pointed at this server: nothing changed`}\n${statusText(r.status)}`,
  }),
  method({
    name: 'user_profile',
    access: 'read',
    accounts: true,
    doc: 'Apple configuration profile (.mobileconfig, unsigned, no password inside) that sets up one mailbox on iOS and macOS',
    cli: ['user', 'profile'],
    args: { email: arg.email('the mailbox').word() },
    handler: ({ email }, ctx) => {
      const profile = mailboxProfile(ctx, email);
      if (!profile) throw new MailError('not_found', `no mailbox ${email}`, 'email');
      return profile;
    },
    text: (r) => r.content,
  }),
];
