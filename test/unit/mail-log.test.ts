// deliveryOutcome: a message's fate read from Postfix's mail.log (lines as Postfix 3.7 wrote
// them in the relay test: one attempt refused for its certificate, interleaved with another).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deliveryOutcome } from '../../src-rpc/runtime/mail-log.ts';

const LOG = `Dec 02 01:04:56 mail postfix/pickup[267]: C600520E214: uid=0 from=<postmaster@example.com>
Dec 02 01:04:56 mail postfix/cleanup[276]: C600520E214: message-id=<test.1@mail.example.com>
Dec 02 01:04:56 mail postfix/qmgr[268]: C600520E214: from=<postmaster@example.com>, size=427, nrcpt=1 (queue active)
Dec 02 01:05:13 mail postfix/smtp[277]: certificate verification failed for relay.example.net[127.0.0.1]:2526: self-signed certificate
Dec 02 01:05:13 mail postfix/smtp[277]: Untrusted TLS connection established to relay.example.net[127.0.0.1]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
Dec 02 01:05:13 mail postfix/smtp[287]: certificate verification failed for relay.example.net[127.0.0.1]:2526: self-signed certificate
Dec 02 01:05:14 mail postfix/smtp[277]: 22C9B20E1D6: to=<friend@example.net>, relay=relay.example.net[127.0.0.1]:2526, delay=19, delays=0.13/0.54/18/0, dsn=4.7.5, status=deferred (Server certificate not verified)
Dec 02 01:05:14 mail postfix/smtp[287]: C600520E214: to=<friend@example.net>, relay=relay.example.net[127.0.0.1]:2526, delay=17, delays=0.05/0.36/17/0, dsn=4.7.5, status=deferred (Server certificate not verified)
`;

test('a deferred attempt: status, Postfix\'s reason and that process\'s certificate complaint', () => {
  assert.equal(deliveryOutcome(LOG, '<test.1@mail.example.com>'), {
    queueId: 'C600520E214',
    status: 'deferred',
    reason: 'Server certificate not verified',
    tls: ['certificate verification failed for relay.example.net[127.0.0.1]:2526: self-signed certificate'],
  });
});

test('queued but not tried yet; unknown message', () => {
  const queued = LOG.split('\n').slice(0, 3).join('\n');
  assert.equal(deliveryOutcome(queued, '<test.1@mail.example.com>'), { queueId: 'C600520E214', status: null, reason: null, tls: [] });
  assert.equal(deliveryOutcome(LOG, '<other@x>'), { queueId: null, status: null, reason: null, tls: [] });
});

test('the last attempt wins (a later success after a deferral)', () => {
  const later = `${LOG}Dec 02 01:10:00 mail postfix/smtp[300]: C600520E214: to=<friend@example.net>, relay=relay.example.net[127.0.0.1]:2527, delay=300, dsn=2.0.0, status=sent (250 OK: message queued)\n`;
  const o = deliveryOutcome(later, '<test.1@mail.example.com>');
  assert.equal([o.status, o.reason, o.tls], ['sent', '250 OK: message queued', []]);
});

test.run();
