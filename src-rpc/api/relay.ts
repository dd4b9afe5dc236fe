// Outbound smarthost: the host in UCI (main.relayhost), the credentials in data_path/secrets.
import { arg } from './args.ts';
import { method } from './method.ts';
import { MailError } from '../core/errors.ts';
import { setOption } from '../config/uci.ts';
import { readRelayCredentials, writeRelayCredentials, clearRelayCredentials } from '../runtime/relay.ts';
import { apply } from '../runtime/service.ts';

export const relayMethods = [
  method({
    name: 'relay_show',
    access: 'read',
    doc: 'Show the outbound relay host and its login name (never the password)',
    cli: ['relay', 'show'],
    args: {},
    handler: (_a, ctx) => ({ relayhost: ctx.settings.main.relayhost, user: readRelayCredentials(ctx.layout)?.user ?? null }),
    text: (r) => (r.relayhost ? `${r.relayhost}${r.user ? ` as ${r.user}` : ''}` : 'direct delivery (no relay host)'),
  }),
  method({
    name: 'relay_set',
    access: 'write',
    doc: 'Send outbound mail through a smarthost, [host]:port (brackets: no MX lookup)',
    cli: ['relay', 'set'],
    args: {
      host: arg.relayHost('smarthost, e.g. [smtp.example.net]:587').word(),
      user: arg.text('login name at the smarthost', 256).optional(),
      password: arg.password('password at the smarthost (with user)').optional(),
    },
    handler: ({ host, user, password }, ctx) => {
      if (user !== undefined && /[\s:]/.test(user)) throw new MailError('invalid_argument', 'must not contain spaces or ":"', 'user');
      if (password !== undefined && password.trim() !== password) throw new MailError('invalid_argument', 'must not start or end with a space', 'password');
      if ((user === undefined) !== (password === undefined)) {
        throw new MailError('invalid_argument', 'user and password go together (CLI: --user NAME --password-stdin)', user === undefined ? 'user' : 'password');
      }
      if (user !== undefined && password !== undefined) writeRelayCredentials(ctx.layout, user, password);
      else clearRelayCredentials(ctx.layout);
      setOption(ctx.uci, 'main', 'relayhost', host);
      apply(ctx.commitUci(ctx.uci));
      return { relayhost: host, user: user ?? null };
    },
    text: (r) => `relaying through ${r.relayhost}${r.user ? ` as ${r.user}` : ''}`,
  }),
  method({
    name: 'relay_clear',
    access: 'write',
    doc: 'Deliver outbound mail directly again and forget the relay credentials',
    cli: ['relay', 'clear'],
    args: {},
    handler: (_a, ctx) => {
      setOption(ctx.uci, 'main', 'relayhost', null);
      clearRelayCredentials(ctx.layout);
      apply(ctx.commitUci(ctx.uci));
      return { relayhost: null };
    },
    text: () => 'direct delivery (no relay host)',
  }),
];
