// What mail clients fetch to set an account up by themselves: Thunderbird's autoconfig document
// (config-v1.1.xml, also read by K-9 / Thunderbird for Android and Evolution), Microsoft's
// Autodiscover POX answer (Outlook), and an Apple configuration profile (iOS, macOS Mail).
// Every one names the same listeners: the ones the settings enable, TLS always, the full
// address as the login. No password is ever inside.
import { mailDomains, mailHost, type Settings } from '../config/settings.ts';
import { lineSafe } from './text.ts';

export type SocketType = 'SSL' | 'STARTTLS';

export interface ClientServer {
  protocol: 'imap' | 'pop3' | 'smtp';
  host: string;
  port: number;
  socketType: SocketType;
}

/** Listeners a client may use, preferred first per protocol (implicit TLS before STARTTLS). */
export function clientServers(s: Settings): ClientServer[] {
  const host = mailHost(s);
  const p = s.ports;
  const candidates: [ClientServer['protocol'], number, SocketType][] = [
    ['imap', p.imaps, 'SSL'],
    ['imap', p.imap, 'STARTTLS'],
    ['pop3', p.pop3s, 'SSL'],
    ['smtp', p.submission, 'STARTTLS'],
    ['smtp', p.smtps, 'SSL'],
  ];
  return candidates.filter(([, port]) => port !== 0).map(([protocol, port, socketType]) => ({ protocol, host, port, socketType }));
}

export function xmlEscape(value: string): string {
  return value.replace(/[<>&"']/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[c]};`);
}

const el = (indent: string, name: string, value: string | number) => `${indent}<${name}>${xmlEscape(lineSafe(name, String(value)))}</${name}>`;

/** Thunderbird's config-v1.1.xml (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
export function renderThunderbirdConfig(s: Settings): string {
  const domains = mailDomains(s);
  const server = (c: ClientServer) => {
    const tag = c.protocol === 'smtp' ? 'outgoingServer' : 'incomingServer';
    return [
      `    <${tag} type="${c.protocol}">`,
      el('      ', 'hostname', c.host),
      el('      ', 'port', c.port),
      el('      ', 'socketType', c.socketType),
      el('      ', 'authentication', 'password-cleartext'),
      el('      ', 'username', '%EMAILADDRESS%'),
      `    </${tag}>`,
    ];
  };
  const servers = clientServers(s);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<clientConfig version="1.1">',
    `  <emailProvider id="${xmlEscape(s.main.domain)}">`,
    ...domains.map((d) => el('    ', 'domain', d)),
    el('    ', 'displayName', `${s.main.domain} mail`),
    el('    ', 'displayShortName', s.main.domain),
    // Thunderbird takes the first incoming server it can reach: IMAP first, POP3 last.
    ...servers.filter((c) => c.protocol !== 'smtp').flatMap(server),
    ...servers.filter((c) => c.protocol === 'smtp').flatMap(server),
    '  </emailProvider>',
    '</clientConfig>',
    '',
  ].join('\n');
}

const AUTODISCOVER_RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
const OUTLOOK_RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';
/** Stands for the requested address in the template the Autodiscover CGI fills in. */
export const LOGIN_PLACEHOLDER = '@@LOGIN@@';

/**
 * Autodiscover POX answer for one address (MS-OXDSCLI "Outlook" response schema). `Encryption`
 * names STARTTLS (`TLS`) versus TLS at once (`SSL`); `SSL on` is the older flag for either.
 */
export function renderAutodiscover(s: Settings, login: string): string {
  const protocol = (c: ClientServer) => [
    '      <Protocol>',
    el('        ', 'Type', c.protocol.toUpperCase()),
    el('        ', 'Server', c.host),
    el('        ', 'Port', c.port),
    login === LOGIN_PLACEHOLDER ? `        <LoginName>${LOGIN_PLACEHOLDER}</LoginName>` : el('        ', 'LoginName', login),
    el('        ', 'DomainRequired', 'off'),
    el('        ', 'SPA', 'off'),
    el('        ', 'SSL', 'on'),
    el('        ', 'Encryption', c.socketType === 'SSL' ? 'SSL' : 'TLS'),
    el('        ', 'AuthRequired', 'on'),
    ...(c.protocol === 'smtp' ? [el('        ', 'UsePOPAuth', 'off'), el('        ', 'SMTPLast', 'off')] : []),
    '      </Protocol>',
  ];
  // One server per protocol: Outlook uses the first of each type.
  const firstOfEach = clientServers(s).filter((c, i, all) => all.findIndex((o) => o.protocol === c.protocol) === i);
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<Autodiscover xmlns="${AUTODISCOVER_RESPONSE_NS}">`,
    `  <Response xmlns="${OUTLOOK_RESPONSE_NS}">`,
    '    <Account>',
    '      <AccountType>email</AccountType>',
    '      <Action>settings</Action>',
    ...firstOfEach.flatMap(protocol),
    '    </Account>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

/** Autodiscover's error answer (a request without a usable address). */
export function renderAutodiscoverError(): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<Autodiscover xmlns="${AUTODISCOVER_RESPONSE_NS}">`,
    '  <Response>',
    '    <Error Time="00:00:00" Id="0">',
    '      <ErrorCode>600</ErrorCode>',
    '      <Message>Invalid Request</Message>',
    '      <DebugData />',
    '    </Error>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

const shq = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

/**
 * The CGI uhttpd runs for /autodiscover/autodiscover.xml (busybox ash; reads the POSTed request,
 * answers for the address in it when it is one of our domains). The address is checked against a
 * narrow pattern before it is printed, so a request cannot inject markup.
 */
export function renderAutodiscoverCgi(s: Settings): string {
  // The answer around each LoginName, the checked address printed in between.
  const pieces = renderAutodiscover(s, LOGIN_PLACEHOLDER).split(LOGIN_PLACEHOLDER).map(shq).join(' "$email" ');
  const domains = mailDomains(s).map((d) => d.toLowerCase());
  return [
    '#!/bin/sh',
    '# Generated by mailctl from /etc/config/mailserver. Do not edit: changes are overwritten.',
    '# Autodiscover (Outlook): POST an <EMailAddress> in, the server settings for it out.',
    'email=""',
    'if [ "$REQUEST_METHOD" = POST ] && [ -n "$CONTENT_LENGTH" ] && [ "$CONTENT_LENGTH" -le 65536 ] 2>/dev/null; then',
    `  email=$(head -c "$CONTENT_LENGTH" | tr -d '\\r\\n' | sed -n 's:.*<EMailAddress>[[:space:]]*\\([^<[:space:]]*\\)[[:space:]]*</EMailAddress>.*:\\1:p' | tr 'A-Z' 'a-z')`,
    'fi',
    `printf 'Content-Type: application/xml; charset=utf-8\\r\\n\\r\\n'`,
    'case "$email" in',
    `  ${domains.map((d) => `*@${d}`).join('|')}) ;;`,
    '  *) email="" ;;',
    'esac',
    `if [ -n "$email" ] && printf '%s' "$email" | grep -Eqx '[a-z0-9._%+-]{1,64}@[a-z0-9.-]{1,253}'; then`,
    `  printf '%s' ${pieces}`,
    'else',
    `  printf '%s' ${shq(renderAutodiscoverError())}`,
    'fi',
    '',
  ].join('\n');
}

/**
 * An unsigned Apple configuration profile with one mail account (IMAP + SMTP) for `email`.
 * No password: the device asks for it. `uuid` makes the profile's identity stable per mailbox.
 */
export function renderMobileconfig(s: Settings, email: string, uuid: (name: string) => string): string {
  const servers = clientServers(s);
  const imap = servers.find((c) => c.protocol === 'imap');
  const smtp = servers.find((c) => c.protocol === 'smtp');
  if (!imap || !smtp) throw new Error('render: a profile needs an IMAP and a submission listener');
  const str = (key: string, value: string) => [`\t\t\t<key>${key}</key>`, `\t\t\t<string>${xmlEscape(lineSafe(key, value))}</string>`];
  const int = (key: string, value: number) => [`\t\t\t<key>${key}</key>`, `\t\t\t<integer>${value}</integer>`];
  const bool = (key: string, value: boolean) => [`\t\t\t<key>${key}</key>`, `\t\t\t<${value}/>`];
  const id = `${reverseDomain(s.main.domain)}.mailserver.${email.replace(/[^A-Za-z0-9.-]/g, '-')}`;
  const account = [
    '\t\t<dict>',
    ...str('EmailAccountDescription', email),
    ...str('EmailAccountName', email),
    ...str('EmailAccountType', 'EmailTypeIMAP'),
    ...str('EmailAddress', email),
    ...str('IncomingMailServerAuthentication', 'EmailAuthPassword'),
    ...str('IncomingMailServerHostName', imap.host),
    ...int('IncomingMailServerPortNumber', imap.port),
    ...bool('IncomingMailServerUseSSL', true),
    ...str('IncomingMailServerUsername', email),
    ...str('OutgoingMailServerAuthentication', 'EmailAuthPassword'),
    ...str('OutgoingMailServerHostName', smtp.host),
    ...int('OutgoingMailServerPortNumber', smtp.port),
    ...bool('OutgoingMailServerUseSSL', true),
    ...str('OutgoingMailServerUsername', email),
    ...bool('OutgoingPasswordSameAsIncomingPassword', true),
    ...str('PayloadDisplayName', `Mail: ${email}`),
    ...str('PayloadIdentifier', `${id}.account`),
    ...str('PayloadType', 'com.apple.mail.managed'),
    ...str('PayloadUUID', uuid(`${email} account`)),
    ...int('PayloadVersion', 1),
    '\t\t</dict>',
  ];
  const top = (key: string, value: string) => [`\t<key>${key}</key>`, `\t<string>${xmlEscape(lineSafe(key, value))}</string>`];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '\t<key>PayloadContent</key>',
    '\t<array>',
    ...account,
    '\t</array>',
    ...top('PayloadDescription', `Mail account ${email} on ${imap.host}; the password is asked on the device.`),
    ...top('PayloadDisplayName', `${email} (${s.main.domain} mail)`),
    ...top('PayloadIdentifier', id),
    '\t<key>PayloadRemovalDisallowed</key>',
    '\t<false/>',
    ...top('PayloadType', 'Configuration'),
    ...top('PayloadUUID', uuid(`${email} profile`)),
    '\t<key>PayloadVersion</key>',
    '\t<integer>1</integer>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

function reverseDomain(domain: string): string {
  return domain.split('.').reverse().join('.');
}
