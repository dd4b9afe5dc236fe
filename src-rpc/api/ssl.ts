// TLS certificate: obtain (ACME DNS-01, manual files, self-signed), renew, and report what every
// listener presents. The work is in ssl/certificates.ts.
import { arg } from './args.ts';
import { method } from './method.ts';
import { withWriteLock } from '../core/write-lock.ts';
import { sslSetup, sslRenew, sslStatus, type SetupResult, type StatusResult, type CertificateSummary } from '../ssl/certificates.ts';
import type { ListenerCertificate } from '../ssl/listeners.ts';

const certText = (c: CertificateSummary | null) =>
  c
    ? [
        `certificate: ${c.subject}${c.source ? ` (${c.source})` : ''}`,
        `  names:    ${c.names.join(', ')}`,
        `  issuer:   ${c.issuer}${c.selfSigned ? ' (self-signed)' : ''}`,
        `  valid:    ${c.validFrom} to ${c.validTo} (${c.daysLeft} days left)`,
        `  key:      ${c.keyType}`,
        `  sha256:   ${c.fingerprint256}`,
      ]
    : ['certificate: none'];

const listenerText = (ls: ListenerCertificate[]) =>
  ls.map((l) => {
    const where = `  ${String(l.port).padEnd(5)} ${l.name.padEnd(10)} ${l.tls === 'starttls' ? 'STARTTLS' : 'TLS     '} `;
    if (l.state === 'match') return `${where} serves the file's certificate`;
    if (l.state === 'differs') return `${where} DIFFERS: serves ${l.fingerprint256} (the file was replaced without a reload?)`;
    return `${where} not asked: ${l.error}`;
  });

const setupText = (r: SetupResult) =>
  [
    r.installed ? 'installed a new certificate' : 'the certificate files already held this pair',
    ...certText(r.certificate),
    r.reloaded.length ? `reloaded: ${r.reloaded.join(', ')}` : 'reloaded: nothing (the daemons are not running)',
    ...(r.listeners.length ? ['listeners:', ...listenerText(r.listeners)] : []),
    ...r.warnings.map((w) => `warning: ${w}`),
  ].join('\n');

const statusText = (r: StatusResult) =>
  [
    `ssl.type ${r.type}; names wanted: ${r.names.join(', ')}`,
    ...certText(r.certificate),
    ...(r.missingNames.length ? [`  MISSING names: ${r.missingNames.join(', ')}`] : []),
    `renewal: ${r.renewal.due ? 'DUE' : 'not due'}: ${r.renewal.reason}`,
    ...(r.renewal.lastAttempt && !r.renewal.lastAttempt.ok ? [`  last attempt ${r.renewal.lastAttempt.at} failed: ${r.renewal.lastAttempt.error}`] : []),
    'listeners:',
    ...listenerText(r.listeners),
  ].join('\n');

export const sslMethods = [
  method({
    name: 'ssl_setup',
    access: 'write',
    job: true,
    doc: "Obtain the certificate by ssl.type: Let's Encrypt (ACME DNS-01), manual files, or self-signed; install it and reload",
    cli: ['ssl-setup'],
    args: {},
    handler: (_a, ctx) => sslSetup(ctx, withWriteLock),
    text: setupText,
  }),
  method({
    name: 'ssl_status',
    access: 'read',
    doc: 'Certificate details, renewal, and the certificate every TLS listener presents',
    cli: ['ssl-status'],
    args: {},
    handler: (_a, ctx) => sslStatus(ctx),
    text: statusText,
  }),
  method({
    name: 'ssl_renew',
    access: 'write',
    job: true,
    doc: 'Renew the certificate when fewer than ssl.renew_days remain (or its names, key type or CA changed)',
    cli: ['ssl-renew'],
    args: { force: arg.flag('renew even if not due').optional() },
    handler: ({ force }, ctx) => sslRenew(ctx, { force: force === true, lock: withWriteLock }),
    text: (r) => (r.renewed ? `renewed (${r.reason})\n${setupText(r)}` : `not renewed: ${r.reason}`),
  }),
];
