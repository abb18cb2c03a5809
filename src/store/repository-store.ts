/**
 * A Store composed of the shared repositories (repositories/*.ts), written once for both dialects.
 * A dialect (sqlite.ts, postgres.ts) supplies the executor and tables, decides how driver errors
 * read (`storageError`), and implements what really differs: the audit append's path, readiness
 * probes and closing.
 */
import type { ChainKey } from "../audit/chain.js";
import type { AuditEntry, AuditRecord, JobOutcome, Lease, LeaseSortKey, OperatorRecord, PageRequest, RotationRecord, RotationStep, ServerCredential, ServerRecord } from "../domain.js";
import { BrokerError } from "../errors.js";
import { assertionRepository, type AssertionRepository } from "./repositories/assertions.js";
import { auditRepository, type AuditRepository, type AuditRepositoryOptions } from "./repositories/audit.js";
import { jobRepository, type JobRepository } from "./repositories/jobs.js";
import { leaseRepository, isLeaseRevocation, type LeaseRepository } from "./repositories/leases.js";
import { metaRepository, type MetaRepository } from "./repositories/meta.js";
import { operatorRepository, type OperatorRepository } from "./repositories/operators.js";
import { rateLimitRepository, type BucketShape, type FailurePolicy, type RateLimitRepository } from "./repositories/rate-limits.js";
import { rotationRepository, type RotationRepository } from "./repositories/rotations.js";
import { secretRepository, type SecretRepository } from "./repositories/secrets.js";
import { serverRepository, type ServerRepository } from "./repositories/servers.js";
import { signingKeyRepository, type SigningKeyRepository } from "./repositories/signing-keys.js";
import { auditPagesOf } from "./shared.js";
import type { SqlExecutor } from "./sql/executor.js";
import type { AuditFilter, LeaseFilter, LeaseRevocation, PendingValueRow, RotationEnd, RotationFilter, SecretWrite, SigningKeyRow, Store } from "./store.js";
import type { StoreTables } from "./tables.js";

export interface Repositories {
  servers: ServerRepository;
  operators: OperatorRepository;
  secrets: SecretRepository;
  leases: LeaseRepository;
  signingKeys: SigningKeyRepository;
  assertions: AssertionRepository;
  rateLimits: RateLimitRepository;
  audit: AuditRepository;
  meta: MetaRepository;
  jobs: JobRepository;
  rotations: RotationRepository;
}

export interface RepositoryOptions extends AuditRepositoryOptions {
  /** Wraps repositories, e.g. with a row cache (row-cache.ts); default: as they are. */
  decorate?: (repositories: Repositories) => Repositories;
}

export function createRepositories(db: SqlExecutor, tables: StoreTables, options: RepositoryOptions): Repositories {
  const leases = leaseRepository(db, tables);
  const repositories: Repositories = {
    servers: serverRepository(db, tables),
    operators: operatorRepository(db, tables),
    secrets: secretRepository(db, tables),
    leases,
    signingKeys: signingKeyRepository(db, tables),
    assertions: assertionRepository(db, tables),
    rateLimits: rateLimitRepository(db, tables),
    audit: auditRepository(db, tables, leases, options),
    meta: metaRepository(db, tables),
    jobs: jobRepository(db, tables),
    rotations: rotationRepository(db, tables),
  };
  return options.decorate ? options.decorate(repositories) : repositories;
}

/** Absent, or with a positive integer limit; anything else is the caller's misuse, not a storage failure. */
function isPageRequest(page: PageRequest<unknown> | undefined): boolean {
  return page === undefined || (Number.isInteger(page.limit) && page.limit >= 1);
}

const ENDED_STATES: ReadonlySet<string> = new Set(["done", "failed", "rolled_back"]);

export abstract class RepositoryStore implements Store {
  abstract readonly dialect: Store["dialect"];

  private chainKey: ChainKey | undefined;

  constructor(protected readonly repositories: Repositories) {}

  useAuditChainKey(key: ChainKey): void {
    this.chainKey = key;
  }

  /** The chain key, or the refusal every append gets without one (fail closed: no unkeyed record). */
  protected requireChainKey(): ChainKey {
    if (!this.chainKey) throw new BrokerError("audit_unavailable", "the audit chain key is not loaded: no audit record can be written");
    return this.chainKey;
  }

  archiveAudit(throughSeq: number, anchor: { key: string; value: string }) {
    return this.guard("archiveAudit", () => this.repositories.audit.archiveThrough(throughSeq, anchor));
  }

  /** Any failure that is not already a BrokerError, as the dialect reads it (conflict or storage_unavailable). */
  protected abstract storageError(operation: string, error: unknown): BrokerError;

  protected guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    // Promise chaining rather than async/await: no extra microtask turns on the per-request reads.
    const translate = (error: unknown): never => {
      throw error instanceof BrokerError ? error : this.storageError(operation, error);
    };
    try {
      return run().catch(translate);
    } catch (error) {
      return Promise.reject(error instanceof BrokerError ? error : this.storageError(operation, error));
    }
  }

  abstract appendAudit(entries: AuditEntry[], leases?: Lease[]): Promise<AuditRecord[]>;
  abstract ping(): Promise<void>;
  abstract checkAuditWritable(): Promise<void>;
  abstract close(): Promise<void>;

  // servers
  createServer(server: ServerRecord) {
    return this.guard("createServer", () => this.repositories.servers.create(server));
  }
  getServer(id: string) {
    return this.guard("getServer", () => this.repositories.servers.get(id));
  }
  listServers(page?: PageRequest<string>) {
    if (!isPageRequest(page)) return Promise.reject(new TypeError(`a page limit must be a positive integer, not ${page?.limit}`));
    return this.guard("listServers", () => this.repositories.servers.list(page));
  }
  setServerDisabled(id: string, disabledAt: number | null) {
    return this.guard("setServerDisabled", () => this.repositories.servers.setDisabled(id, disabledAt));
  }
  setTokensNotBefore(id: string, notBefore: number) {
    return this.guard("setTokensNotBefore", () => this.repositories.servers.setTokensNotBefore(id, notBefore));
  }
  deleteServer(id: string, now: number) {
    return this.guard("deleteServer", () => this.repositories.servers.markDeleted(id, now));
  }
  addCredential(credential: ServerCredential) {
    return this.guard("addCredential", () => this.repositories.servers.addCredential(credential));
  }
  activeCredentials(serverId: string) {
    return this.guard("activeCredentials", () => this.repositories.servers.activeCredentials(serverId));
  }
  revokeCredentials(serverId: string, now: number, kind?: ServerCredential["kind"]) {
    return this.guard("revokeCredentials", () => this.repositories.servers.revokeCredentials(serverId, now, kind));
  }
  replaceCredentialSecretHash(credentialId: string, expectedOldHash: string, newHash: string) {
    return this.guard("replaceCredentialSecretHash", () => this.repositories.servers.replaceSecretHash(credentialId, expectedOldHash, newHash));
  }

  // operators
  createOperator(operator: OperatorRecord & { tokenHash: string }) {
    return this.guard("createOperator", () => this.repositories.operators.create(operator));
  }
  operatorByTokenHash(tokenHash: string) {
    return this.guard("operatorByTokenHash", () => this.repositories.operators.byTokenHash(tokenHash));
  }
  listOperators(page?: PageRequest<string>) {
    if (!isPageRequest(page)) return Promise.reject(new TypeError(`a page limit must be a positive integer, not ${page?.limit}`));
    return this.guard("listOperators", () => this.repositories.operators.list(page));
  }
  revokeOperator(name: string, now: number) {
    return this.guard("revokeOperator", () => this.repositories.operators.revoke(name, now));
  }
  getOperator(name: string) {
    return this.guard("getOperator", () => this.repositories.operators.byName(name));
  }
  replaceOperatorToken(name: string, tokenHash: string, expiresAt: number | null) {
    return this.guard("replaceOperatorToken", () => this.repositories.operators.replaceToken(name, tokenHash, expiresAt));
  }
  countActiveOperators() {
    return this.guard("countActiveOperators", () => this.repositories.operators.countActive());
  }

  // secrets
  writeSecretVersion(write: SecretWrite) {
    return this.guard("writeSecretVersion", () => this.repositories.secrets.write(write));
  }
  destroySecretVersion(path: string, version: number, now: number) {
    return this.guard("destroySecretVersion", () => this.repositories.secrets.destroyVersion(path, version, now));
  }
  getSecretMetadata(path: string) {
    return this.guard("getSecretMetadata", () => this.repositories.secrets.metadata(path));
  }
  listSecrets(prefix: string, page?: PageRequest<string>) {
    if (!isPageRequest(page)) return Promise.reject(new TypeError(`a page limit must be a positive integer, not ${page?.limit}`));
    return this.guard("listSecrets", () => this.repositories.secrets.list(prefix, page));
  }
  getEncryptedVersion(path: string, version: number) {
    return this.guard("getEncryptedVersion", () => this.repositories.secrets.version(path, version));
  }
  getCurrentEncryptedVersion(path: string) {
    return this.guard("getCurrentEncryptedVersion", () => this.repositories.secrets.currentVersion(path));
  }
  listVersions(path: string) {
    return this.guard("listVersions", () => this.repositories.secrets.versions(path));
  }
  deleteSecret(path: string, now: number) {
    return this.guard("deleteSecret", () => this.repositories.secrets.delete(path, now));
  }
  versionsNotWrappedBy(keyId: string, limit: number) {
    return this.guard("versionsNotWrappedBy", () => this.repositories.secrets.versionsNotWrappedBy(keyId, limit));
  }
  rewrapVersion(path: string, version: number, expectedKeyId: string, keyId: string, wrappedKey: Buffer) {
    return this.guard("rewrapVersion", () => this.repositories.secrets.rewrap(path, version, expectedKeyId, keyId, wrappedKey));
  }

  // leases
  insertLease(lease: Lease) {
    return this.guard("insertLease", () => this.repositories.leases.insert([lease]));
  }
  getLease(id: string) {
    return this.guard("getLease", () => this.repositories.leases.get(id));
  }
  listLeases(filter: LeaseFilter, page?: PageRequest<LeaseSortKey>) {
    if (!isPageRequest(page)) return Promise.reject(new TypeError(`a page limit must be a positive integer, not ${page?.limit}`));
    return this.guard("listLeases", () => this.repositories.leases.list(filter, page));
  }
  extendLease(id: string, expiresAt: number) {
    return this.guard("extendLease", () => this.repositories.leases.extend(id, expiresAt));
  }
  revokeLeases(filter: LeaseRevocation, now: number, reason: string): Promise<Lease[]> {
    // Misuse, not a storage failure: checked before the guard would call it one.
    if (!isLeaseRevocation(filter)) return Promise.reject(new TypeError("revokeLeases needs at least one filter"));
    return this.guard("revokeLeases", () => this.repositories.leases.revoke(filter, now, reason));
  }
  countActiveLeases(now: number) {
    return this.guard("countActiveLeases", () => this.repositories.leases.countActive(now));
  }
  purgeEndedLeases(endedBefore: number, limit: number) {
    if (!isPageRequest({ limit })) return Promise.reject(new TypeError(`a purge limit must be a positive integer, not ${limit}`));
    return this.guard("purgeEndedLeases", () => this.repositories.leases.purgeEnded(endedBefore, limit));
  }

  // background jobs
  acquireJobLock(name: string, owner: string, now: number, lockedUntil: number) {
    return this.guard("acquireJobLock", () => this.repositories.jobs.acquire(name, owner, now, lockedUntil));
  }
  renewJobLock(name: string, owner: string, now: number, lockedUntil: number) {
    return this.guard("renewJobLock", () => this.repositories.jobs.renew(name, owner, now, lockedUntil));
  }
  finishJobRun(name: string, owner: string, now: number, outcome: JobOutcome, nextRunAt: number) {
    return this.guard("finishJobRun", () => this.repositories.jobs.finish(name, owner, now, outcome, nextRunAt));
  }
  getJobState(name: string) {
    return this.guard("getJobState", () => this.repositories.jobs.get(name));
  }

  // rotations
  insertRotation(rotation: RotationRecord) {
    return this.guard("insertRotation", () => this.repositories.rotations.insert(rotation));
  }
  getRotation(id: string) {
    return this.guard("getRotation", () => this.repositories.rotations.get(id));
  }
  listRotations(filter: RotationFilter) {
    return this.guard("listRotations", () => this.repositories.rotations.list(filter));
  }
  claimRotation(id: string, owner: string, now: number, leaseUntil: number) {
    return this.guard("claimRotation", () => this.repositories.rotations.claim(id, owner, now, leaseUntil));
  }
  recordRotationStep(id: string, owner: string, step: RotationStep, stepState: string, now: number, leaseUntil: number) {
    return this.guard("recordRotationStep", () => this.repositories.rotations.recordStep(id, owner, step, stepState, now, leaseUntil));
  }
  endRotation(id: string, owner: string, end: RotationEnd) {
    // Misuse, not a storage failure: checked before the guard would call it one.
    if (!ENDED_STATES.has(end.state)) return Promise.reject(new TypeError(`a rotation cannot end as ${end.state}`));
    return this.guard("endRotation", () => this.repositories.rotations.end(id, owner, end));
  }
  keepPendingValue(row: PendingValueRow) {
    return this.guard("keepPendingValue", () => this.repositories.rotations.keepPending(row));
  }
  getPendingValue(rotationId: string) {
    return this.guard("getPendingValue", () => this.repositories.rotations.pending(rotationId));
  }

  // signing keys
  insertSigningKey(row: SigningKeyRow) {
    return this.guard("insertSigningKey", () => this.repositories.signingKeys.insert(row));
  }
  listSigningKeys() {
    return this.guard("listSigningKeys", () => this.repositories.signingKeys.list());
  }
  retireSigningKey(kid: string, retiredAt: number, expiresAt: number) {
    return this.guard("retireSigningKey", () => this.repositories.signingKeys.retire(kid, retiredAt, expiresAt));
  }
  rewrapSigningKey(kid: string, expectedKeyId: string, keyId: string, wrappedKey: Buffer) {
    return this.guard("rewrapSigningKey", () => this.repositories.signingKeys.rewrap(kid, expectedKeyId, keyId, wrappedKey));
  }

  rememberAssertion(id: string, expiresAt: number, now: number) {
    return this.guard("rememberAssertion", () => this.repositories.assertions.remember(id, expiresAt, now));
  }

  // throttling counters
  takeRateTokens(key: string, shape: BucketShape, cost: number, now: number) {
    return this.guard("takeRateTokens", () => this.repositories.rateLimits.take(key, shape, cost, now));
  }

  getRateBucket(key: string) {
    return this.guard("getRateBucket", () => this.repositories.rateLimits.bucket(key));
  }

  authLockedUntil(key: string) {
    return this.guard("authLockedUntil", () => this.repositories.rateLimits.lockedUntil(key));
  }

  recordAuthFailure(key: string, policy: FailurePolicy, now: number) {
    return this.guard("recordAuthFailure", () => this.repositories.rateLimits.recordFailure(key, policy, now));
  }

  clearAuthFailures(key: string) {
    return this.guard("clearAuthFailures", () => this.repositories.rateLimits.clearFailures(key));
  }

  forgetIdleRateCounters(idleBefore: number, endedBefore: number, limit: number) {
    return this.guard("forgetIdleRateCounters", () => this.repositories.rateLimits.forgetIdle(idleBefore, endedBefore, limit));
  }

  // audit
  queryAudit(filter: AuditFilter) {
    return this.guard("queryAudit", () => this.repositories.audit.query(filter));
  }
  auditPages(pageSize: number): AsyncIterable<AuditRecord[]> {
    return auditPagesOf(this, {}, pageSize);
  }
  accessSummary(resource: string, since: number | undefined) {
    return this.guard("accessSummary", () => this.repositories.audit.accessSummary(resource, since));
  }

  // meta
  getMeta(key: string) {
    return this.guard("getMeta", () => this.repositories.meta.get(key));
  }
  setMeta(key: string, value: string) {
    return this.guard("setMeta", () => this.repositories.meta.set(key, value));
  }
  setMetaIfAbsent(key: string, value: string) {
    return this.guard("setMetaIfAbsent", () => this.repositories.meta.setIfAbsent(key, value));
  }
}
