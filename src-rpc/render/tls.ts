// TLS policy shared by every listener that clients (MUAs) use: Mozilla's "intermediate"
// configuration (TLS 1.2 and 1.3; ECDHE key exchange with AES-GCM or ChaCha20-Poly1305). The
// list names TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults, all AEAD. No DHE: a
// finite-field group below 2048 bits would be worse than none, and every client since 2013
// speaks ECDHE. Port 25 keeps Postfix's broader opportunistic list (RFC 7435).
export const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const MIN_TLS_PROTOCOL = 'TLSv1.2';
