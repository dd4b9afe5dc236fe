// Methods whose features land with later issues: declared now (names, arguments, ACL) so
// scripts and the page can rely on them, answering `not_implemented` until then.
import { arg } from './args.ts';
import { method } from './method.ts';
import { notImplemented } from './errors.ts';

const DNS = 'the DNS/DKIM issue';
const TLS = 'the TLS issue';
const WEBMAIL = 'the webmail issue';

export const pendingMethods = [
  method({ name: 'dns_setup', access: 'write', doc: 'Publish the expected DNS records (MX, SPF, DMARC, DKIM, ...)', cli: ['dns-setup'], args: {}, handler: () => notImplemented('dns-setup', DNS) }),
  method({
    name: 'dns_records',
    access: 'read',
    doc: 'The DNS records this server expects',
    cli: ['dns', 'records'],
    args: { format: arg.oneOf('table, zone or json', ['table', 'zone', 'json'] as const).optional() },
    handler: () => notImplemented('dns records', DNS),
  }),
  method({ name: 'dns_check', access: 'read', doc: 'Compare published DNS records with the expected ones', cli: ['dns-check'], args: {}, handler: () => notImplemented('dns-check', DNS) }),
  method({ name: 'dkim_show', access: 'read', doc: 'DKIM selectors and public keys per domain', cli: ['dkim', 'show'], args: {}, handler: () => notImplemented('dkim show', DNS) }),
  method({ name: 'dkim_rotate', access: 'write', doc: 'Publish a new DKIM key, switch signing, retire the old one', cli: ['dkim', 'rotate'], args: {}, handler: () => notImplemented('dkim rotate', DNS) }),
  method({ name: 'ssl_setup', access: 'write', doc: "Obtain a Let's Encrypt certificate by DNS-01", cli: ['ssl-setup'], args: {}, handler: () => notImplemented('ssl-setup', TLS) }),
  method({ name: 'ssl_status', access: 'read', doc: 'Certificate details and what every TLS listener presents', cli: ['ssl-status'], args: {}, handler: () => notImplemented('ssl-status', TLS) }),
  method({ name: 'ssl_renew', access: 'write', doc: 'Renew the certificate when it is due', cli: ['ssl-renew'], args: { force: arg.flag('renew even if not due').optional() }, handler: () => notImplemented('ssl-renew', TLS) }),
  method({ name: 'webmail_status', access: 'read', doc: 'State of the Roundcube webmail container', cli: ['webmail', 'status'], args: {}, handler: () => notImplemented('webmail status', WEBMAIL) }),
  method({ name: 'webmail_configure', access: 'write', doc: 'Point Roundcube at this mail server', cli: ['webmail', 'configure'], args: {}, handler: () => notImplemented('webmail configure', WEBMAIL) }),
];
