// Methods whose features land with later issues: declared now (names, arguments, ACL) so
// scripts and the page can rely on them, answering `not_implemented` until then.
import { arg } from './args.ts';
import { method } from './method.ts';
import { notImplemented } from '../core/errors.ts';

const WEBMAIL = 'the webmail issue';

export const pendingMethods = [
  method({ name: 'webmail_status', access: 'read', doc: 'State of the Roundcube webmail container', cli: ['webmail', 'status'], args: {}, handler: () => notImplemented('webmail status', WEBMAIL) }),
  method({ name: 'webmail_configure', access: 'write', doc: 'Point Roundcube at this mail server', cli: ['webmail', 'configure'], args: {}, handler: () => notImplemented('webmail configure', WEBMAIL) }),
];
