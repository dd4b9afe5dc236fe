// Roundcube's configuration file (config.inc.php) holds one block that is ours, between two
// marker lines; every other byte is the owner's and is kept as it is. The block points Roundcube
// at our listeners with certificate verification on (a self-signed certificate is pinned, never
// trusted blindly) and sets the per-install des_key and the product name.
import { lineSafe } from './text.ts';

export const BLOCK_BEGIN = '// BEGIN secubox-mailserver';
export const BLOCK_END = '// END secubox-mailserver';
/** The pinned certificate sits next to config.inc.php, so the path holds in a container too. */
export const PINNED_CERT_FILE = 'secubox-mailserver-ca.pem';

export interface Endpoint {
  /** `ssl` = TLS at once, `tls` = STARTTLS (PHP stream and Roundcube URI schemes). */
  scheme: 'ssl' | 'tls';
  host: string;
  port: number;
}

export interface RoundcubeView {
  imap: Endpoint;
  smtp: Endpoint;
  /** null when ports.sieve is 0. */
  sieve: Endpoint | null;
  /** Verification against our own certificate (self-signed) instead of the system's CAs. */
  pinCertificate: boolean;
  desKey: string;
  productName: string;
  /** Login names without @ get this domain. */
  usernameDomain: string;
}

/** A PHP single-quoted string literal. */
export function phpString(value: string): string {
  return `'${lineSafe('php string', value).replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

const uri = (e: Endpoint) => phpString(`${e.scheme}://${e.host}:${e.port}`);

function connOptions(v: RoundcubeView, host: string): string {
  const pin = v.pinCertificate ? `, 'cafile' => __DIR__ . ${phpString(`/${PINNED_CERT_FILE}`)}` : '';
  return `['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, 'peer_name' => ${phpString(host)}${pin}]]`;
}

/** The block, marker lines included, ending with a newline. */
export function renderRoundcubeBlock(v: RoundcubeView): string {
  const lines = [
    `${BLOCK_BEGIN}: written by \`mailctl webmail configure\`; this block is replaced, edit outside it.`,
    `$config['imap_host'] = ${uri(v.imap)};`,
    `$config['imap_conn_options'] = ${connOptions(v, v.imap.host)};`,
    `$config['smtp_host'] = ${uri(v.smtp)};`,
    `$config['smtp_user'] = '%u';`,
    `$config['smtp_pass'] = '%p';`,
    `$config['smtp_conn_options'] = ${connOptions(v, v.smtp.host)};`,
    ...(v.sieve
      ? [
          `$config['managesieve_host'] = ${uri(v.sieve)};`,
          `$config['managesieve_conn_options'] = ${connOptions(v, v.sieve.host)};`,
          `$config['plugins'] = array_values(array_unique(array_merge($config['plugins'] ?? [], ['managesieve'])));`,
        ]
      : []),
    `$config['username_domain'] = ${phpString(v.usernameDomain)};`,
    `$config['product_name'] = ${phpString(v.productName)};`,
    `$config['des_key'] = ${phpString(v.desKey)};`,
    BLOCK_END,
  ];
  return `${lines.join('\n')}\n`;
}

/** Our block as the file holds it now (marker lines included), or null. */
export function findRoundcubeBlock(file: string): string | null {
  const span = blockSpan(file);
  return span ? file.slice(span.start, span.end) : null;
}

function blockSpan(file: string): { start: number; end: number } | null {
  const start = file.search(/^\/\/ BEGIN secubox-mailserver/m);
  if (start < 0) return null;
  const endMark = file.indexOf(`\n${BLOCK_END}`, start);
  if (endMark < 0) throw new Error(`the Roundcube configuration has "${BLOCK_BEGIN}" without "${BLOCK_END}": fix it by hand`);
  const lineEnd = file.indexOf('\n', endMark + 1);
  return { start, end: lineEnd < 0 ? file.length : lineEnd + 1 };
}

/**
 * The file with our block in place: replaced where it is, or added at the end (before a closing
 * `?>`, so it stays PHP). Last in the file, it decides over earlier lines the owner left.
 */
export function withRoundcubeBlock(file: string, block: string): string {
  const span = blockSpan(file);
  if (span) return file.slice(0, span.start) + block + file.slice(span.end);
  const close = /\?>\s*$/.exec(file);
  if (close) {
    const head = file.slice(0, close.index);
    return `${head}${head.endsWith('\n') ? '' : '\n'}\n${block}${file.slice(close.index)}`;
  }
  return `${file}${file.endsWith('\n') ? '' : '\n'}\n${block}`;
}
