/**
 * The broker's persistence contract. One interface, one implementation per database dialect
 * (SQLite and PostgreSQL), one contract test suite (test/store) run against each.
 *
 * Conventions: times are integer milliseconds; "get" methods return `undefined` when the row does
 * not exist (never throw for absence); any insert whose key exists throws BrokerError("conflict");
 * updates of missing rows return false. Storage failures throw BrokerError("storage_unavailable").
 */
import type {
  AuditEntry,
  AuditRecord,
  Lease,
  OperatorRecord,
  SecretMetadata,
  SecretVersionInfo,
  ServerCredential,
  ServerRecord,
} from "../domain.js";

/** prev_hash of the first audit record (the chain lives in audit/chain.ts). */
export { GENESIS_HASH } from "../audit/chain.js";

export interface EncryptedVersion {
  path: string;
  version: number;
  keyId: string;
  wrappedKey: Buffer;
  ciphertext: Buffer;
  createdAt: number;
  createdBy: string;
  destroyedAt: number | null;
}

export interface SigningKeyRow {
  kid: string;
  publicJwk: string;
  keyId: string;
  wrappedKey: Buffer;
  privateJwkCiphertext: Buffer;
  createdAt: number;
  retiredAt: number | null;
  expiresAt: number | null;
}

export interface LeaseFilter {
  serverId?: string;
  secretPath?: string;
  /** Only leases neither revoked nor expired at this time. */
  activeAt?: number;
}

export interface AuditFilter {
  actor?: string;
  resource?: string;
  /** A resource prefix, e.g. `prod/` (matched with LIKE, escaped). */
  resourcePrefix?: string;
  action?: string;
  outcome?: string;
  since?: number;
  until?: number;
  /** Return records with seq greater than this (cursor pagination, ascending). */
  afterSeq?: number;
  limit: number;
}

export interface AccessSummaryRow {
  actor: string;
  actorKind: string;
  count: number;
  first: number;
  last: number;
  allowed: number;
  denied: number;
  error: number;
}

export interface SecretWrite {
  path: string;
  /** Metadata applied on first write (and updated on later writes when given). */
  metadata?: Partial<Pick<SecretMetadata, "description" | "owner" | "labels" | "sensitivity">>;
  createdBy: string;
  now: number;
  /** Encrypts the value for the version number the store allocates. */
  seal: (version: number) => { keyId: string; wrappedKey: Buffer; ciphertext: Buffer };
}

export interface Store {
  readonly dialect: "sqlite" | "postgres";

  // servers
  createServer(server: ServerRecord): Promise<void>;
  getServer(id: string): Promise<ServerRecord | undefined>;
  listServers(): Promise<ServerRecord[]>;
  setServerDisabled(id: string, disabledAt: number | null): Promise<boolean>;
  /** Refuses every broker token of the server issued before `notBefore` (ms). */
  setTokensNotBefore(id: string, notBefore: number): Promise<boolean>;
  addCredential(credential: ServerCredential): Promise<void>;
  activeCredentials(serverId: string): Promise<ServerCredential[]>;
  /** Revokes every active credential of the server of the given kind (all kinds when omitted). */
  revokeCredentials(serverId: string, now: number, kind?: ServerCredential["kind"]): Promise<number>;

  // operators
  createOperator(operator: OperatorRecord & { tokenHash: string }): Promise<void>;
  operatorByTokenHash(tokenHash: string): Promise<OperatorRecord | undefined>;
  listOperators(): Promise<OperatorRecord[]>;
  revokeOperator(name: string, now: number): Promise<boolean>;
  countActiveOperators(): Promise<number>;

  // secrets (metadata for every path; encrypted versions for the local backend)
  /** Allocates the next version in one transaction and stores the sealed value. Returns that version. */
  writeSecretVersion(write: SecretWrite): Promise<number>;
  getSecretMetadata(path: string): Promise<SecretMetadata | undefined>;
  listSecrets(prefix: string): Promise<SecretMetadata[]>;
  getEncryptedVersion(path: string, version: number): Promise<EncryptedVersion | undefined>;
  /**
   * The current version of a live secret, in one read (the read path's lookup: one round trip on
   * PostgreSQL instead of metadata then version). Undefined when the path does not exist or the
   * secret was deleted; a destroyed version is returned as it is (`destroyedAt` set).
   */
  getCurrentEncryptedVersion(path: string): Promise<EncryptedVersion | undefined>;
  listVersions(path: string): Promise<SecretVersionInfo[]>;
  /** Soft-deletes the metadata and destroys every version's ciphertext. */
  deleteSecret(path: string, now: number): Promise<boolean>;
  /** Versions whose data key is wrapped by a key other than `keyId`, for re-wrapping. */
  versionsNotWrappedBy(keyId: string, limit: number): Promise<EncryptedVersion[]>;
  /** Replaces a wrapped data key only if it is still wrapped by `expectedKeyId` (compare-and-set). */
  rewrapVersion(path: string, version: number, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean>;

  // leases
  insertLease(lease: Lease): Promise<void>;
  getLease(id: string): Promise<Lease | undefined>;
  listLeases(filter: LeaseFilter): Promise<Lease[]>;
  extendLease(id: string, expiresAt: number): Promise<boolean>;
  /** Revokes matching active leases; returns the ids revoked. */
  revokeLeases(filter: { id?: string; serverId?: string; secretPath?: string }, now: number, reason: string): Promise<Lease[]>;
  countActiveLeases(now: number): Promise<number>;

  // signing keys
  insertSigningKey(row: SigningKeyRow): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRow[]>;
  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void>;
  rewrapSigningKey(kid: string, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean>;

  /** Records a client-assertion id; false when it was already seen (a replay). */
  rememberAssertion(id: string, expiresAt: number, now: number): Promise<boolean>;

  // audit
  /**
   * Appends entries durably in one transaction, chaining hashes (audit/record.ts) after the last
   * committed record, and inserts `leases` in the same transaction (a lease exists exactly when its
   * audit record does). Resolves only once the transaction is committed; rejects (and commits
   * nothing) otherwise.
   */
  appendAudit(entries: AuditEntry[], leases?: Lease[]): Promise<AuditRecord[]>;
  queryAudit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** Streams every record in seq order, in pages. */
  auditPages(pageSize: number): AsyncIterable<AuditRecord[]>;
  accessSummary(resource: string, since: number | undefined): Promise<AccessSummaryRow[]>;

  // meta
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Stores `value` only when `key` has none; true when it was stored (false: someone was first). */
  setMetaIfAbsent(key: string, value: string): Promise<boolean>;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;
  /**
   * For /readyz: resolves when an audit record could be committed now (the database takes writes
   * and the broker may insert audit records); rejects with storage_unavailable saying why not.
   */
  checkAuditWritable(): Promise<void>;
  close(): Promise<void>;
}
