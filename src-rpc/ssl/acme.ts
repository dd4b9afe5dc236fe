// One ACME order by DNS-01, with acme-client. This module is its own bundle (rpcd/lib/acme.js,
// see ssl/load-acme.ts): only ssl-setup and ssl-renew load it, so no other command parses the
// ACME library. It knows nothing of DNS providers or files: the caller passes the certificate
// key and three DNS hooks, and gets the chain back.
//
// The CA is reached only through the directory URL. Its HTTPS is verified the standard Node
// way (system CAs, plus NODE_EXTRA_CA_CERTS); acme-client's own DNS pre-check is skipped: the
// `waitVisible` hook asks the zone's authoritative servers instead.
import * as acme from 'acme-client';

type Challenge = Parameters<acme.Client['completeChallenge']>[0];

export interface TxtRecord {
  /** `_acme-challenge.<name>`, no trailing dot. */
  name: string;
  value: string;
}

export interface Dns01Hooks {
  publish(record: TxtRecord): Promise<void>;
  /** Resolves once the zone's authoritative servers answer every record; throws otherwise. */
  waitVisible(records: TxtRecord[]): Promise<void>;
  unpublish(record: TxtRecord): Promise<void>;
}

export interface OrderRequest {
  directory: string;
  accountKeyPem: string;
  email: string;
  names: string[];
  certificateKeyPem: string;
  dns: Dns01Hooks;
  progress(percent: number, phase: string): void;
  /** Lines for the job log (never keys). */
  log(line: string): void;
}

/** A failed order: the message carries the CA's or the DNS provider's own words. */
export class AcmeFailure extends Error {
  constructor(
    readonly stage: 'ca' | 'dns',
    message: string,
  ) {
    super(message);
    this.name = 'AcmeFailure';
  }
}

// No silent retries: a rate-limit answer may say "retry after" hours, and a job must end with
// the CA's message, not sleep. `mailctl tick` tries a failed renewal again hours later.
(acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
// A CA that accepts the connection and never answers must not hang the job.
acme.axios.defaults.timeout = 30_000;
// acme-client's response interceptor (5.4.0) turns a network error without a response
// (ECONNREFUSED, an untrusted certificate) into "Cannot read properties of undefined" once it
// stops retrying: hand such errors on as they are; HTTP answers still go through it.
{
  const handlers = (acme.axios.interceptors.response as unknown as { handlers?: ({ rejected?: (e: unknown) => unknown } | null)[] }).handlers ?? [];
  for (const h of handlers) {
    const theirs = h?.rejected;
    if (!h || typeof theirs !== 'function') continue;
    h.rejected = (e: unknown) => ((e as { response?: unknown })?.response ? theirs(e) : Promise.reject(e));
  }
}

const NETWORK = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|ERR_TLS_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/;

function reason(e: unknown): string {
  const err = e as { message?: string; code?: string };
  return (err?.message ?? String(e)).replace(/\s+/g, ' ').trim() || 'no reason given';
}

/** Run one step against the CA; a failure becomes an AcmeFailure that says which step. */
async function atCa<T>(directory: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof AcmeFailure) throw e;
    const code = (e as { code?: string })?.code ?? '';
    if (NETWORK.test(code)) throw new AcmeFailure('ca', `cannot reach the CA at ${directory}: ${reason(e)}`);
    throw new AcmeFailure('ca', `${what}: ${reason(e)}`);
  }
}

export async function orderCertificate(r: OrderRequest): Promise<{ chainPem: string; warnings: string[] }> {
  const client = new acme.Client({
    directoryUrl: r.directory,
    accountKey: r.accountKeyPem,
    // Polling for the CA's verdict: soon at first (Pebble answers at once), then slower.
    backoffAttempts: 12,
    backoffMin: 1000,
    backoffMax: 15_000,
  });

  r.progress(10, 'ACME account');
  await atCa(r.directory, 'the CA refused the account', () => client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${r.email}`] }));
  r.log(`account ${client.getAccountUrl()}`);

  r.progress(20, `ordering a certificate for ${r.names.join(', ')}`);
  const order = await atCa(r.directory, `the CA refused the order for ${r.names.join(', ')}`, () =>
    client.createOrder({ identifiers: r.names.map((value) => ({ type: 'dns', value })) }),
  );
  const authorizations = await atCa(r.directory, 'the CA did not give the authorizations', () => client.getAuthorizations(order));

  const todo: { name: string; challenge: Challenge; record: TxtRecord }[] = [];
  for (const authz of authorizations) {
    const name = authz.identifier.value;
    if (authz.status === 'valid') {
      r.log(`${name}: already authorized`);
      continue;
    }
    const challenge = authz.challenges.find((c) => c.type === 'dns-01');
    if (!challenge) throw new AcmeFailure('ca', `the CA offers no DNS-01 challenge for ${name} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`);
    const value = await client.getChallengeKeyAuthorization(challenge);
    todo.push({ name, challenge, record: { name: `_acme-challenge.${name.replace(/^\*\./, '')}`, value } });
  }

  const published: TxtRecord[] = [];
  let attempted: TxtRecord | null = null;
  let failure: unknown = null;
  try {
    if (todo.length) {
      r.progress(30, `publishing ${todo.length} DNS-01 TXT record(s)`);
      for (const t of todo) {
        try {
          await r.dns.publish(t.record);
        } catch (e) {
          attempted = t.record; // a provider may fail after a partial write: remove it anyway
          throw new AcmeFailure('dns', `publishing TXT ${t.record.name} failed: ${reason(e)}`);
        }
        published.push(t.record);
        r.log(`published TXT ${t.record.name}`);
      }
      r.progress(40, "waiting for the zone's authoritative servers to answer the TXT record(s)");
      try {
        await r.dns.waitVisible(published);
      } catch (e) {
        throw new AcmeFailure('dns', reason(e));
      }
      r.progress(60, 'the CA is checking the DNS-01 challenge(s)');
      for (const t of todo) await atCa(r.directory, `the CA would not check the challenge for ${t.name}`, () => client.completeChallenge(t.challenge));
      for (const t of todo) await atCa(r.directory, `the CA rejected the DNS-01 challenge for ${t.name}`, () => client.waitForValidStatus(t.challenge));
      r.log('challenges valid');
    }
  } catch (e) {
    failure = e;
  }
  // The challenge records go whatever happened.
  const leftBehind: string[] = [];
  for (const record of published) {
    try {
      await r.dns.unpublish(record);
      r.log(`removed TXT ${record.name}`);
    } catch (e) {
      leftBehind.push(`could not remove TXT ${record.name}: ${reason(e)}`);
    }
  }
  const unsure = attempted as TxtRecord | null;
  if (unsure) {
    // Most likely never written (the provider said why above): a failure here only goes to the log.
    await r.dns.unpublish(unsure).then(
      () => r.log(`removed TXT ${unsure.name}`),
      (e) => r.log(`could not remove TXT ${unsure.name}: ${reason(e)}`),
    );
  }
  if (failure) {
    if (!leftBehind.length) throw failure;
    const f = failure instanceof AcmeFailure ? failure : new AcmeFailure('ca', reason(failure));
    throw new AcmeFailure(f.stage, `${f.message}; also ${leftBehind.join('; ')}`);
  }

  r.progress(80, 'finalizing the order');
  const [, csr] = await acme.crypto.createCsr({ commonName: r.names[0]!, altNames: r.names }, r.certificateKeyPem);
  const finalized = await atCa(r.directory, 'the CA refused to issue the certificate', () => client.finalizeOrder(order, csr));
  const chainPem = await atCa(r.directory, 'the certificate could not be downloaded', () => client.getCertificate(finalized));
  return { chainPem, warnings: leftBehind };
}
