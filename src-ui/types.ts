// What each method answers, as the page reads it. Shapes come from the backend's own types
// wherever it exports them (type-only imports: nothing of src-rpc reaches the bundle), so a
// change there breaks `tsc` here. Argument types come from gen/methods.ts (the table).
import type { Job } from '../src-rpc/jobs/store.ts';
import type { CertificateSummary } from '../src-rpc/ssl/certificates.ts';
import type { Page } from '../src-rpc/api/paging.ts';
import type { ErrorReply } from '../src-rpc/core/errors.ts';
import type { status } from '../src-rpc/runtime/service.ts';
import type { ExpectedRecord } from '../src-rpc/dns/records.ts';
import type { CheckReport, CheckRow } from '../src-rpc/dns/check.ts';
import type { StatusResult as SslStatus } from '../src-rpc/ssl/certificates.ts';
import type { DnsHealth } from '../src-rpc/dns/health.ts';
import type { Ban } from '../src-rpc/ban/nft.ts';
import type { WebmailStatus } from '../src-rpc/webmail/roundcube.ts';
import type { MailboxProfile } from '../src-rpc/webmail/profile.ts';
import type { MethodName } from './gen/methods.ts';
import type { firewallStatus } from '../src-rpc/firewall/fw4.ts';

export type { Job, CertificateSummary, Page, ErrorReply, ExpectedRecord, CheckReport, CheckRow, SslStatus, DnsHealth, Ban, WebmailStatus };
/** The container of runtime lxc as status reports it (null on the host runtime). */
export interface Container {
  name: string;
  state: string;
  address: string | null;
  memoryBytes: number | null;
  distribution: string | null;
}
export type Status = Awaited<ReturnType<typeof status>> & { container?: Container | null };
export type FirewallStatus = ReturnType<typeof firewallStatus>;
/** A failed job's error may carry the log lines of the phase that failed (install). */
export type JobWithLog = Omit<Job, 'error'> & { error: (NonNullable<Job['error']> & { log?: string[] }) | null; log: string[] };
/** What a job method (install, later ssl_setup, mesh_backup, ...) answers through rpcd. */
export interface JobStarted {
  job: string;
  kind: string;
  state: Job['state'];
}

export interface Overview {
  host: string;
  service: Status;
  counts: { mailboxes: number; aliases: number; domains: number };
  queue: number;
  disk: { freeBytes: number; totalBytes: number } | null;
  certificate: CertificateSummary | null;
  /** features.quota and features.quota_default (bytes; 0 = unlimited). */
  quota: { enabled: boolean; default: number };
  /** The last DNS check's summary; null = never checked. */
  dns: DnsHealth | null;
  jobs: Job[];
  /** The first current bans (service.bans has the count). */
  bans: Ban[];
  firewall: FirewallStatus;
  /** The last restore drill (mesh verify); null = never. */
  meshVerify: { at: string; ok: boolean; peers: { peer: string; ok: boolean; error?: string }[] } | null;
}

export interface Mailbox {
  email: string;
  /** Bytes; null = features.quota_default; 0 = unlimited. */
  quota: number | null;
}
/** A user_list item: a mailbox and the bytes of its stored mail (null: not counted). */
export interface MailboxListed extends Mailbox {
  usage: number | null;
}
export interface Alias {
  alias: string;
  targets: string[];
}
export interface Domain {
  domain: string;
  primary: boolean;
  mailboxes: number;
  aliases: number;
}
export interface ResolvedPeer {
  peer: string;
  /** null when it cannot be resolved now (error says why). */
  kind: 'p2p' | 'sftp' | 'rest' | null;
  target: string | null;
  name?: string;
  error?: string;
}
export interface Mesh {
  enabled: boolean;
  peers: string[];
  resolved: ResolvedPeer[];
  syncInterval: unknown;
}
export interface BackupFile {
  name: string;
  file: string;
  bytes: number;
  created: string;
  encrypted: boolean;
}
export interface MeshBackups {
  backups: BackupFile[];
  keep: number;
  /** What a restore replaces (kept for `mesh restore --undo`). */
  replaces: string[];
}
export interface MeshKey {
  kind: 'passphrase' | 'x25519' | null;
  file: string;
  recipient: string | null;
  fingerprint: string | null;
}
export interface Relay {
  relayhost: string | null;
  user: string | null;
}

export interface DnsRecords {
  format: string;
  records: ExpectedRecord[];
  /** Why some records cannot be right yet (no public address, no DKIM key, ...). */
  problems: string[];
  /** All records as zone-file lines. */
  zone: string;
}

/** dkim_show (its handler's inline return type, mirrored here). */
export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: string;
  state: 'active' | 'pending' | 'retiring';
  created: string;
  removeAfter: string | null;
  record: { name: string; type: string; value: string };
}
export interface DkimShow {
  enabled: boolean;
  signer: string | null;
  keys: DkimKey[];
}

/** Success replies of the methods the page calls; every other method is typed `object`. */
export interface KnownResults {
  overview: Overview;
  status: Status;
  start: Status;
  stop: Status;
  restart: Status;
  install: JobStarted;
  logs: { lines: string[] };
  user_list: Page<MailboxListed>;
  user_add: Mailbox;
  user_del: { email: string; purged: boolean; aliasesChanged: string[] };
  user_passwd: { email: string };
  user_quota: Mailbox;
  alias_list: Page<Alias>;
  alias_add: Alias;
  alias_del: Alias;
  domain_list: { items: Domain[] };
  domain_add: { domain: string };
  domain_del: { domain: string };
  relay_show: Relay;
  relay_set: Relay;
  relay_clear: Relay;
  mesh_peers: Mesh;
  mesh_add_peer: Mesh;
  mesh_remove_peer: Mesh;
  mesh_enable: Mesh;
  mesh_disable: Mesh;
  mesh_backups: MeshBackups;
  mesh_key_show: MeshKey;
  mesh_key_export: MeshKey & { key: string };
  dns_records: DnsRecords;
  dns_check: CheckReport & { health: DnsHealth };
  dkim_show: DkimShow;
  ssl_status: SslStatus;
  webmail_status: WebmailStatus;
  webmail_configure: JobStarted;
  user_profile: MailboxProfile;
  job_status: JobWithLog;
  job_list: Page<Job>;
  ban_del: { address: string };
  firewall_status: FirewallStatus;
  firewall_setup: object;
  firewall_clear: object;
}

export type Result<N extends MethodName> = N extends keyof KnownResults ? KnownResults[N] : Record<string, unknown>;
