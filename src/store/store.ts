/**
 * The broker's persistence contract. One interface; its logic is written once over both database
 * dialects (repositories/, composed by repository-store.ts), and sqlite.ts and postgres.ts add what
 * differs. One contract test suite (test/store) runs against each.
 *
 * Conventions: times are integer milliseconds; "get" methods return `undefined` when the row does
 * not exist (never throw for absence); any insert whose key exists throws BrokerError("conflict");
 * updates of missing rows return false. Storage failures throw BrokerError("storage_unavailable").
 * Misuse by the caller (an argument no valid call would pass) rejects with a TypeError. Every
 * listing has the order its JSDoc states, the same on both dialects.
 */
import type { ChainKey } from "../audit/chain.js";
import type {
  AuditEntry,
  AuditRecord,
  JobOutcome,
  JobState,
  Lease,
  LeaseSortKey,
  OperatorRecord,
  PageRequest,
  RotationRecord,
  RotationState,
  RotationStep,
  SecretMetadata,
  SecretVersionInfo,
  ServerCredential,
  ServerRecord,
} from "../domain.js";

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

/** Which leases revokeLeases revokes: all of the given conditions; at least one must be given. */
export interface LeaseRevocation {
  id?: string;
  serverId?: string;
  /** The secret's leases, those of its `#key` selections included. */
  secretPath?: string;
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
  /** Return records with seq less than this (cursor pagination, newest first). */
  beforeSeq?: number;
  /** Seq order of the answer (default `asc`); `desc` gives the newest records first. */
  order?: "asc" | "desc";
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

/** Which rotations listRotations answers: all of the given conditions (none: every rotation). */
export interface RotationFilter {
  secretPath?: string;
  states?: readonly RotationState[];
}

/** How a rotation ended (see endRotation). */
export interface RotationEnd {
  state: Exclude<RotationState, "pending" | "running">;
  errorCode: string | null;
  version: number | null;
  now: number;
  /** Keep the pending value (a rotation that could not be rolled back: it may be the only copy of what the target holds). */
  keepPending: boolean;
}

/** A rotation's pending value, envelope-encrypted (rotation/pending-values.ts). */
export interface PendingValueRow {
  rotationId: string;
  keyId: string;
  wrappedKey: Buffer;
  ciphertext: Buffer;
  createdAt: number;
}

export interface Store {
  readonly dialect: "sqlite" | "postgres";

  // servers
  /** Conflict when a live server has the id; a deleted server's id is taken over (its tokens_not_before kept). */
  createServer(server: ServerRecord): Promise<void>;
  getServer(id: string): Promise<ServerRecord | undefined>;
  /** Ordered by id; with `page`, at most `page.limit` servers whose id sorts after `page.after`. */
  listServers(page?: PageRequest<string>): Promise<ServerRecord[]>;
  setServerDisabled(id: string, disabledAt: number | null): Promise<boolean>;
  /** Refuses every broker token of the server issued before `notBefore` (ms). */
  setTokensNotBefore(id: string, notBefore: number): Promise<boolean>;
  /**
   * Deletes a server: from now on getServer and listServers do not see it, it is disabled and
   * every token issued before `now` is refused (kept when the id is registered again, which
   * createServer then allows). False when there is no such live server.
   */
  deleteServer(id: string, now: number): Promise<boolean>;
  addCredential(credential: ServerCredential): Promise<void>;
  /** The server's unrevoked credentials, oldest first (ties by id); [] for an unknown server. */
  activeCredentials(serverId: string): Promise<ServerCredential[]>;
  /** Revokes every active credential of the server of the given kind (all kinds when omitted). */
  revokeCredentials(serverId: string, now: number, kind?: ServerCredential["kind"]): Promise<number>;
  /**
   * Compare-and-set of an active credential's secret hash (a legacy hash re-hashed on use): true
   * when it was `expectedOldHash` and is now `newHash`; false when it differs, the credential is
   * revoked or does not exist.
   */
  replaceCredentialSecretHash(credentialId: string, expectedOldHash: string, newHash: string): Promise<boolean>;

  // operators
  /** One statement: conflict when the name is held by an active operator; a revoked name is taken over. */
  createOperator(operator: OperatorRecord & { tokenHash: string }): Promise<void>;
  operatorByTokenHash(tokenHash: string): Promise<OperatorRecord | undefined>;
  /** Ordered by name, without token hashes; with `page`, at most `page.limit` after the name `page.after`. */
  listOperators(page?: PageRequest<string>): Promise<OperatorRecord[]>;
  revokeOperator(name: string, now: number): Promise<boolean>;
  /** The operator of that name, revoked or not, without its token hash; undefined when there is none. */
  getOperator(name: string): Promise<OperatorRecord | undefined>;
  /**
   * Replaces an active operator's token hash and expiry in one statement (the old token stops
   * naming it at once); false when the operator is revoked or missing. A hash another operator
   * holds throws conflict.
   */
  replaceOperatorToken(name: string, tokenHash: string, expiresAt: number | null): Promise<boolean>;
  countActiveOperators(): Promise<number>;

  // secrets (metadata for every path; encrypted versions for the local backend)
  /** Allocates the next version in one transaction and stores the sealed value. Returns that version. */
  writeSecretVersion(write: SecretWrite): Promise<number>;
  getSecretMetadata(path: string): Promise<SecretMetadata | undefined>;
  /**
   * Live secrets whose path starts with `prefix` (literally, case-sensitively), ordered by path;
   * with `page`, at most `page.limit` whose path sorts after `page.after`.
   */
  listSecrets(prefix: string, page?: PageRequest<string>): Promise<SecretMetadata[]>;
  getEncryptedVersion(path: string, version: number): Promise<EncryptedVersion | undefined>;
  /**
   * The current version of a live secret, in one read (the read path's lookup: one round trip on
   * PostgreSQL instead of metadata then version). Undefined when the path does not exist or the
   * secret was deleted; a destroyed version is returned as it is (`destroyedAt` set).
   */
  getCurrentEncryptedVersion(path: string): Promise<EncryptedVersion | undefined>;
  /** Oldest version first. */
  listVersions(path: string): Promise<SecretVersionInfo[]>;
  /**
   * Destroys one version of a live secret irreversibly (its ciphertext and wrapped key are
   * emptied; the row stays, so the number is never reused). False when the secret is deleted or
   * that version does not exist or is already destroyed.
   */
  destroySecretVersion(path: string, version: number, now: number): Promise<boolean>;
  /** Soft-deletes the metadata and destroys every version's ciphertext. */
  deleteSecret(path: string, now: number): Promise<boolean>;
  /** Undestroyed versions whose data key is wrapped by a key other than `keyId`, for re-wrapping: ordered by path, then version; at most `limit`. */
  versionsNotWrappedBy(keyId: string, limit: number): Promise<EncryptedVersion[]>;
  /** Replaces a wrapped data key only if it is still wrapped by `expectedKeyId` (compare-and-set). */
  rewrapVersion(path: string, version: number, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean>;

  // leases
  insertLease(lease: Lease): Promise<void>;
  getLease(id: string): Promise<Lease | undefined>;
  /** Oldest issued first (ties by id); with `page`, at most `page.limit` sorting after `page.after`. */
  listLeases(filter: LeaseFilter, page?: PageRequest<LeaseSortKey>): Promise<Lease[]>;
  extendLease(id: string, expiresAt: number): Promise<boolean>;
  /**
   * Revokes the matching leases that are neither revoked nor expired at `now`; returns them as
   * revoked, oldest issued first (ties by id). An empty filter rejects with a TypeError (it would
   * revoke everything).
   */
  revokeLeases(filter: LeaseRevocation, now: number, reason: string): Promise<Lease[]>;
  countActiveLeases(now: number): Promise<number>;
  /**
   * Deletes at most `limit` leases that ended (expired, or were revoked) before `endedBefore` (ms),
   * in one statement; returns how many it deleted. A lease is deleted once: concurrent purges
   * never both count the same lease. A dynamic credential's lease (external lease id) that expired
   * without being revoked is kept: its backend lease may still be alive.
   */
  purgeEndedLeases(endedBefore: number, limit: number): Promise<number>;

  // background jobs: one lock row per job name, shared by every broker on the database
  /**
   * Takes the job's lock for `owner` until `lockedUntil` when the job is due (`nextRunAt <= now`)
   * and the lock is free or its holder's `lockedUntil` has passed (the holder died or stalled).
   * Creates the job's row on first use (due at once). True when `owner` now holds the lock.
   */
  acquireJobLock(name: string, owner: string, now: number, lockedUntil: number): Promise<boolean>;
  /** Extends `owner`'s unexpired lock to `lockedUntil`; false when the lock expired or another runner took it over. */
  renewJobLock(name: string, owner: string, now: number, lockedUntil: number): Promise<boolean>;
  /**
   * Releases `owner`'s lock and records the run (finished at `now`, `outcome`, next run due at
   * `nextRunAt`); false (and nothing recorded) when `owner` no longer holds it.
   */
  finishJobRun(name: string, owner: string, now: number, outcome: JobOutcome, nextRunAt: number): Promise<boolean>;
  /** The job's state; undefined when no runner has run it on this database. */
  getJobState(name: string): Promise<JobState | undefined>;

  // rotations (rotation/machine.ts)
  /** Records a new rotation; conflict when its id exists or the secret already has an active (pending or running) rotation. */
  insertRotation(rotation: RotationRecord): Promise<void>;
  getRotation(id: string): Promise<RotationRecord | undefined>;
  /** Oldest created first (ties by id). */
  listRotations(filter: RotationFilter): Promise<RotationRecord[]>;
  /**
   * Makes `owner` the holder of a pending rotation, or of a running one whose holder's
   * `leaseUntil` is at or before `now` (that broker died or stalled), until `leaseUntil`. True
   * when `owner` now holds it; false for an ended rotation, one held by a live lease, or none.
   */
  claimRotation(id: string, owner: string, now: number, leaseUntil: number): Promise<boolean>;
  /**
   * Records that `step` completed with `stepState` (JSON text) and renews the hold to
   * `leaseUntil`; false (nothing recorded) when `owner` does not hold the running rotation.
   */
  recordRotationStep(id: string, owner: string, step: RotationStep, stepState: string, now: number, leaseUntil: number): Promise<boolean>;
  /**
   * Ends `owner`'s running rotation and, unless `end.keepPending`, deletes its pending value in
   * the same transaction; false (nothing changed) when `owner` does not hold it. An active
   * `end.state` rejects with a TypeError.
   */
  endRotation(id: string, owner: string, end: RotationEnd): Promise<boolean>;
  /** Stores a rotation's pending value unless it has one already (the first write wins). */
  keepPendingValue(row: PendingValueRow): Promise<void>;
  /** The rotation's pending value; undefined when it has none (never kept, or dropped when it ended). */
  getPendingValue(rotationId: string): Promise<PendingValueRow | undefined>;

  // signing keys
  insertSigningKey(row: SigningKeyRow): Promise<void>;
  /** Oldest first; created at the same time: retired keys first, then by kid. */
  listSigningKeys(): Promise<SigningKeyRow[]>;
  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void>;
  rewrapSigningKey(kid: string, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean>;

  /** Records a client-assertion id, purging expired ones in the same transaction; false when it was already seen (a replay). */
  rememberAssertion(id: string, expiresAt: number, now: number): Promise<boolean>;

  // throttling counters, shared by every broker on the database (src/auth/shared-counters.ts)
  /**
   * Takes `cost` (at most `burst`) tokens from `key`'s bucket as refilled at `now` (`ratePerSecond`
   * up to `burst`; a missing bucket starts full); true when taken, false when too few were there
   * (nothing taken). Atomic across brokers.
   */
  takeRateTokens(key: string, shape: { ratePerSecond: number; burst: number }, cost: number, now: number): Promise<boolean>;
  /** `key`'s bucket as stored (tokens as of `updatedAt`), undefined when there is none. */
  getRateBucket(key: string): Promise<{ tokens: number; updatedAt: number } | undefined>;
  /** When `key`'s lockout ends (epoch ms); 0 when it was never locked out. */
  authLockedUntil(key: string): Promise<number>;
  /** Counts a failure of `key`; the one reaching `maxFailures` within the window locks it out for `lockoutSeconds`. Atomic across brokers. */
  recordAuthFailure(key: string, policy: { maxFailures: number; failureWindowSeconds: number; lockoutSeconds: number }, now: number): Promise<void>;
  /** Forgets `key`'s failures; nothing when there are none. */
  clearAuthFailures(key: string): Promise<void>;
  /**
   * Deletes at most `limit` buckets last updated before `idleBefore` and at most `limit` failure
   * rows whose lockout and window ended before `endedBefore`; returns how many rows went.
   */
  forgetIdleRateCounters(idleBefore: number, endedBefore: number, limit: number): Promise<number>;

  // audit
  /**
   * Appends entries durably in one transaction, chaining hashes (audit/chain.ts) after the last
   * committed record, and inserts `leases` in the same transaction (a lease exists exactly when its
   * audit record does). Resolves only once the transaction is committed; rejects (and commits
   * nothing) otherwise.
   */
  appendAudit(entries: AuditEntry[], leases?: Lease[]): Promise<AuditRecord[]>;
  /**
   * The key appendAudit chains with (audit/chain.ts). Until it is set every append rejects with
   * `audit_unavailable`: an unkeyed record is never written. Copied; safe to call again (restarted
   * committer threads receive it too).
   */
  useAuditChainKey(key: ChainKey): void;
  /**
   * Deletes the audit records up to `throughSeq` and stores `anchor` (a broker_meta row, see
   * audit/chain-format.ts) in the same transaction; resolves with how many records were deleted.
   */
  archiveAudit(throughSeq: number, anchor: { key: string; value: string }): Promise<number>;
  /** Ascending seq, at most `filter.limit`. */
  queryAudit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** Streams every record in seq order, in pages. */
  auditPages(pageSize: number): AsyncIterable<AuditRecord[]>;
  /** Reads of `resource` (and its `#key` selections) per actor since `since`, ordered by actor, then actor kind. */
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
