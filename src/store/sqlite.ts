/**
 * The SQLite store: better-sqlite3 in WAL mode with synchronous=FULL (every commit is fsynced, so
 * an audit record acknowledged by appendAudit survives a crash), queried through drizzle-orm.
 */
import Database from "better-sqlite3";
import { and, asc, eq, gt, gte, isNull, like, lte, ne, or, sql } from "drizzle-orm";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { type AuditEntry, type AuditRecord, type Lease, type OperatorRecord, type SecretMetadata, type ServerCredential, type ServerRecord } from "../domain.js";
import { BrokerError } from "../errors.js";
import { readMigrations } from "./migrate.js";
import { RowCache } from "./row-cache.js";
import { chainedRecord, chainFieldValues, chainHash, GENESIS_HASH } from "../audit/chain.js";
import { pushLeaseRow, SqliteCommitter, type CommittedChain } from "./sqlite-committer.js";
import * as t from "./schema.sqlite.js";
import { auditPagesOf, escapeLike, parseLabels } from "./shared.js";
import { type AccessSummaryRow, type AuditFilter, type EncryptedVersion, type LeaseFilter, type SecretWrite, type SigningKeyRow, type Store } from "./store.js";

export interface SqliteStoreOptions {
  /** File path, or ":memory:" for throwaway tests. */
  file: string;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /**
   * Commit audit batches on a worker thread (default: true for a file, false for ":memory:",
   * which a second connection cannot see). Use false for short-lived tools (init, migrate).
   */
  offThreadCommits?: boolean;
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  if (options.file !== ":memory:") mkdirSync(dirname(options.file), { recursive: true });
  const db = new Database(options.file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  // The committer thread's writes reset this connection's page cache; mapped pages are re-read
  // without copying, which keeps the per-request lookups cheap.
  db.pragma("mmap_size = 268435456");
  // Secret paths are case-sensitive: LIKE prefix matches (revocations, reports) must be too.
  db.pragma("case_sensitive_like = ON");
  const store = new SqliteStore(db);
  if (options.migrate !== false) store.migrate();
  if (options.offThreadCommits ?? options.file !== ":memory:") store.useCommitter(new SqliteCommitter(options.file));
  return store;
}


function prepareHotStatements(db: BetterSQLite3Database, raw: Database.Database) {
  return {
    server: db.select().from(t.servers).where(eq(t.servers.id, sql.placeholder("id"))).prepare(),
    secret: db.select().from(t.secrets).where(eq(t.secrets.path, sql.placeholder("path"))).prepare(),
    version: db
      .select()
      .from(t.secretVersions)
      .where(and(eq(t.secretVersions.path, sql.placeholder("path")), eq(t.secretVersions.version, sql.placeholder("version"))))
      .prepare(),
    lastAudit: raw.prepare<[], { seq: number; hash: string }>("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"),
    insertAudit: raw.prepare(
      `INSERT INTO audit_events (seq, time, actor, actor_kind, action, resource, outcome, reason, lease_id, version, request_id, source_ip, token_ref, prev_hash, hash)
       VALUES (@seq, @time, @actor, @actorKind, @action, @resource, @outcome, @reason, @leaseId, @version, @requestId, @sourceIp, @tokenRef, @prevHash, @hash)`,
    ),
    insertLease: raw.prepare(
      `INSERT INTO leases (id, server_id, secret_path, version, issued_at, expires_at, max_expires_at, renewable, revoked_at, revoke_reason, external_lease_id)
       VALUES (@id, @serverId, @secretPath, @version, @issuedAt, @expiresAt, @maxExpiresAt, @renewable, @revokedAt, @revokeReason, @externalLeaseId)`,
    ),
  };
}
type HotStatements = ReturnType<typeof prepareHotStatements>;

/** better-sqlite3's codes for a duplicate key (SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE). */
const DUPLICATE_KEY_CODES = new Set(["SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"]);

/**
 * Wraps driver failures (disk full, locked, I/O) so callers see a coded 503, not a raw error; a
 * duplicate key is `conflict`, as on PostgreSQL.
 */
function guarded<T>(operation: string, run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    if (error instanceof BrokerError) return Promise.reject(error);
    const detail = `${operation}: ${String(error)}`;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && DUPLICATE_KEY_CODES.has(code)) {
      return Promise.reject(new BrokerError("conflict", "a record with the same key already exists", { detail, cause: error }));
    }
    return Promise.reject(new BrokerError("storage_unavailable", "storage unavailable", { detail, cause: error }));
  }
}

export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  readonly db: BetterSQLite3Database;

  private hot: HotStatements | undefined;
  /** Rows of the per-request path; every write below drops what it changes (see row-cache.ts). */
  private readonly servers = new RowCache<ServerRecord | undefined>();
  private readonly secretRows = new RowCache<SecretMetadata | EncryptedVersion | undefined>();
  private committer: SqliteCommitter | undefined;

  constructor(readonly raw: Database.Database) {
    this.db = drizzle(raw);
  }

  /**
   * Statements of the per-request path, compiled once (after migrations, on first use): building
   * and compiling SQL on every call was half of a read's CPU time.
   */
  private get statements(): HotStatements {
    return (this.hot ??= prepareHotStatements(this.db, this.raw));
  }

  /** Applies pending migrations; returns the names applied. */
  migrate(): string[] {
    this.raw.exec("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)");
    const applied = new Set(
      (this.raw.prepare("SELECT name FROM schema_migrations").all() as Array<{ name: string }>).map((row) => row.name),
    );
    const done: string[] = [];
    for (const migration of readMigrations("sqlite")) {
      if (applied.has(migration.name)) continue;
      this.raw.transaction(() => {
        this.raw.exec(migration.sql);
        this.raw.prepare("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)").run(migration.name, Date.now());
      })();
      done.push(migration.name);
    }
    return done;
  }

  // servers ---------------------------------------------------------------------------------

  createServer(server: ServerRecord): Promise<void> {
    return guarded("createServer", () => {
      const result = this.db
        .insert(t.servers)
        .values({ ...server, labels: JSON.stringify(server.labels) })
        .onConflictDoNothing()
        .run();
      if (result.changes === 0) throw new BrokerError("conflict", `server ${server.id} already exists`);
      this.servers.delete(server.id);
    });
  }

  getServer(id: string): Promise<ServerRecord | undefined> {
    return guarded("getServer", () =>
      this.servers.get(id, () => {
        const row = this.statements.server.get({ id });
        return row && { ...row, labels: parseLabels(row.labels) };
      }),
    );
  }

  listServers(): Promise<ServerRecord[]> {
    return guarded("listServers", () =>
      this.db.select().from(t.servers).orderBy(asc(t.servers.id)).all().map((row) => ({ ...row, labels: parseLabels(row.labels) })),
    );
  }

  setServerDisabled(id: string, disabledAt: number | null): Promise<boolean> {
    return guarded("setServerDisabled", () => {
      this.servers.delete(id);
      return this.db.update(t.servers).set({ disabledAt }).where(eq(t.servers.id, id)).run().changes > 0;
    });
  }

  setTokensNotBefore(id: string, notBefore: number): Promise<boolean> {
    return guarded("setTokensNotBefore", () => {
      this.servers.delete(id);
      return this.db.update(t.servers).set({ tokensNotBefore: notBefore }).where(eq(t.servers.id, id)).run().changes > 0;
    });
  }

  addCredential(credential: ServerCredential): Promise<void> {
    return guarded("addCredential", () => {
      this.db.insert(t.serverCredentials).values(credential).run();
    });
  }

  activeCredentials(serverId: string): Promise<ServerCredential[]> {
    return guarded("activeCredentials", () =>
      this.db
        .select()
        .from(t.serverCredentials)
        .where(and(eq(t.serverCredentials.serverId, serverId), isNull(t.serverCredentials.revokedAt)))
        .orderBy(asc(t.serverCredentials.createdAt), asc(t.serverCredentials.id))
        .all(),
    );
  }

  revokeCredentials(serverId: string, now: number, kind?: ServerCredential["kind"]): Promise<number> {
    return guarded("revokeCredentials", () => {
      const conditions = [eq(t.serverCredentials.serverId, serverId), isNull(t.serverCredentials.revokedAt)];
      if (kind) conditions.push(eq(t.serverCredentials.kind, kind));
      return this.db.update(t.serverCredentials).set({ revokedAt: now }).where(and(...conditions)).run().changes;
    });
  }

  // operators -------------------------------------------------------------------------------

  createOperator(operator: OperatorRecord & { tokenHash: string }): Promise<void> {
    return guarded("createOperator", () => {
      const existing = this.db.select().from(t.operators).where(eq(t.operators.name, operator.name)).get();
      if (existing && existing.revokedAt === null) throw new BrokerError("conflict", `operator ${operator.name} already exists`);
      this.db
        .insert(t.operators)
        .values(operator)
        .onConflictDoUpdate({
          target: t.operators.name,
          set: { role: operator.role, tokenHash: operator.tokenHash, createdAt: operator.createdAt, revokedAt: null },
        })
        .run();
    });
  }

  operatorByTokenHash(tokenHash: string): Promise<OperatorRecord | undefined> {
    return guarded("operatorByTokenHash", () => {
      const row = this.db
        .select({ name: t.operators.name, role: t.operators.role, createdAt: t.operators.createdAt, revokedAt: t.operators.revokedAt })
        .from(t.operators)
        .where(eq(t.operators.tokenHash, tokenHash))
        .get();
      return row;
    });
  }

  listOperators(): Promise<OperatorRecord[]> {
    return guarded("listOperators", () =>
      this.db
        .select({ name: t.operators.name, role: t.operators.role, createdAt: t.operators.createdAt, revokedAt: t.operators.revokedAt })
        .from(t.operators)
        .orderBy(asc(t.operators.name))
        .all(),
    );
  }

  revokeOperator(name: string, now: number): Promise<boolean> {
    return guarded(
      "revokeOperator",
      () =>
        this.db
          .update(t.operators)
          .set({ revokedAt: now })
          .where(and(eq(t.operators.name, name), isNull(t.operators.revokedAt)))
          .run().changes > 0,
    );
  }

  countActiveOperators(): Promise<number> {
    return guarded("countActiveOperators", () => {
      const row = this.db.select({ n: sql<number>`count(*)` }).from(t.operators).where(isNull(t.operators.revokedAt)).get();
      return row?.n ?? 0;
    });
  }

  // secrets ---------------------------------------------------------------------------------

  writeSecretVersion(write: SecretWrite): Promise<number> {
    this.secretRows.delete(`meta:${write.path}`);
    return guarded("writeSecretVersion", () =>
      this.raw.transaction(() => {
        const existing = this.db.select().from(t.secrets).where(eq(t.secrets.path, write.path)).get();
        const meta = write.metadata ?? {};
        let version: number;
        if (!existing || existing.deletedAt !== null) {
          // A deleted path starts again above its old versions so version numbers are never reused.
          version = (existing?.currentVersion ?? 0) + 1;
          const row = {
            path: write.path,
            description: meta.description ?? "",
            owner: meta.owner ?? "",
            labels: JSON.stringify(meta.labels ?? {}),
            sensitivity: meta.sensitivity ?? ("medium" as const),
            currentVersion: version,
            createdAt: write.now,
            updatedAt: write.now,
            deletedAt: null,
          };
          this.db.insert(t.secrets).values(row).onConflictDoUpdate({ target: t.secrets.path, set: row }).run();
        } else {
          version = existing.currentVersion + 1;
          this.db
            .update(t.secrets)
            .set({
              currentVersion: version,
              updatedAt: write.now,
              ...(meta.description !== undefined && { description: meta.description }),
              ...(meta.owner !== undefined && { owner: meta.owner }),
              ...(meta.labels !== undefined && { labels: JSON.stringify(meta.labels) }),
              ...(meta.sensitivity !== undefined && { sensitivity: meta.sensitivity }),
            })
            .where(eq(t.secrets.path, write.path))
            .run();
        }
        const sealed = write.seal(version);
        this.db
          .insert(t.secretVersions)
          .values({ path: write.path, version, ...sealed, createdAt: write.now, createdBy: write.createdBy, destroyedAt: null })
          .run();
        return version;
      })(),
    );
  }

  getSecretMetadata(path: string): Promise<SecretMetadata | undefined> {
    return guarded("getSecretMetadata", () => this.metadataRow(path));
  }

  private metadataRow(path: string): SecretMetadata | undefined {
    return this.secretRows.get(`meta:${path}`, () => {
      const row = this.statements.secret.get({ path });
      return row && { ...row, labels: parseLabels(row.labels) };
    }) as SecretMetadata | undefined;
  }

  private versionRow(path: string, version: number): EncryptedVersion | undefined {
    return this.secretRows.get(`version:${path}\u0000${version}`, () => this.statements.version.get({ path, version })) as EncryptedVersion | undefined;
  }

  listSecrets(prefix: string): Promise<SecretMetadata[]> {
    return guarded("listSecrets", () =>
      this.db
        .select()
        .from(t.secrets)
        .where(and(isNull(t.secrets.deletedAt), sql`${t.secrets.path} LIKE ${`${escapeLike(prefix)}%`} ESCAPE '\\'`))
        .orderBy(asc(t.secrets.path))
        .all()
        .map((row) => ({ ...row, labels: parseLabels(row.labels) })),
    );
  }

  getEncryptedVersion(path: string, version: number): Promise<EncryptedVersion | undefined> {
    return guarded("getEncryptedVersion", () => this.versionRow(path, version));
  }

  getCurrentEncryptedVersion(path: string): Promise<EncryptedVersion | undefined> {
    return guarded("getCurrentEncryptedVersion", () => {
      const metadata = this.metadataRow(path);
      return metadata && metadata.deletedAt === null ? this.versionRow(path, metadata.currentVersion) : undefined;
    });
  }

  listVersions(path: string) {
    return guarded("listVersions", () =>
      this.db
        .select({
          path: t.secretVersions.path,
          version: t.secretVersions.version,
          createdAt: t.secretVersions.createdAt,
          createdBy: t.secretVersions.createdBy,
          destroyedAt: t.secretVersions.destroyedAt,
        })
        .from(t.secretVersions)
        .where(eq(t.secretVersions.path, path))
        .orderBy(asc(t.secretVersions.version))
        .all(),
    );
  }

  deleteSecret(path: string, now: number): Promise<boolean> {
    this.secretRows.delete(`meta:${path}`);
    this.secretRows.deletePrefix(`version:${path}\u0000`);
    return guarded("deleteSecret", () =>
      this.raw.transaction(() => {
        const changed = this.db
          .update(t.secrets)
          .set({ deletedAt: now, updatedAt: now })
          .where(and(eq(t.secrets.path, path), isNull(t.secrets.deletedAt)))
          .run().changes;
        if (changed === 0) return false;
        // Destroy the ciphertext (an empty buffer) but keep the row: version numbers are never reused.
        this.db
          .update(t.secretVersions)
          .set({ destroyedAt: now, ciphertext: Buffer.alloc(0), wrappedKey: Buffer.alloc(0) })
          .where(and(eq(t.secretVersions.path, path), isNull(t.secretVersions.destroyedAt)))
          .run();
        return true;
      })(),
    );
  }

  versionsNotWrappedBy(keyId: string, limit: number): Promise<EncryptedVersion[]> {
    return guarded("versionsNotWrappedBy", () =>
      this.db
        .select()
        .from(t.secretVersions)
        .where(and(ne(t.secretVersions.keyId, keyId), isNull(t.secretVersions.destroyedAt)))
        .orderBy(asc(t.secretVersions.path), asc(t.secretVersions.version))
        .limit(limit)
        .all(),
    );
  }

  rewrapVersion(path: string, version: number, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean> {
    this.secretRows.delete(`version:${path}\u0000${version}`);
    return guarded(
      "rewrapVersion",
      () =>
        this.db
          .update(t.secretVersions)
          .set({ keyId, wrappedKey })
          .where(
            and(eq(t.secretVersions.path, path), eq(t.secretVersions.version, version), eq(t.secretVersions.keyId, expectedKeyId)),
          )
          .run().changes > 0,
    );
  }

  // leases ----------------------------------------------------------------------------------

  insertLease(lease: Lease): Promise<void> {
    return guarded("insertLease", () => {
      this.db.insert(t.leases).values(lease).run();
    });
  }

  getLease(id: string): Promise<Lease | undefined> {
    return guarded("getLease", () => this.db.select().from(t.leases).where(eq(t.leases.id, id)).get());
  }

  listLeases(filter: LeaseFilter): Promise<Lease[]> {
    return guarded("listLeases", () => {
      const conditions = [];
      if (filter.serverId !== undefined) conditions.push(eq(t.leases.serverId, filter.serverId));
      if (filter.secretPath !== undefined) conditions.push(eq(t.leases.secretPath, filter.secretPath));
      if (filter.activeAt !== undefined) conditions.push(isNull(t.leases.revokedAt), gt(t.leases.expiresAt, filter.activeAt));
      return this.db
        .select()
        .from(t.leases)
        .where(and(...conditions))
        .orderBy(asc(t.leases.issuedAt), asc(t.leases.id))
        .all();
    });
  }

  extendLease(id: string, expiresAt: number): Promise<boolean> {
    return guarded(
      "extendLease",
      () => this.db.update(t.leases).set({ expiresAt }).where(and(eq(t.leases.id, id), isNull(t.leases.revokedAt))).run().changes > 0,
    );
  }

  revokeLeases(filter: { id?: string; serverId?: string; secretPath?: string }, now: number, reason: string): Promise<Lease[]> {
    if (filter.id === undefined && filter.serverId === undefined && filter.secretPath === undefined) {
      return Promise.reject(new TypeError("revokeLeases needs at least one filter"));
    }
    return guarded("revokeLeases", () => {
      const conditions = [isNull(t.leases.revokedAt), gt(t.leases.expiresAt, now)];
      if (filter.id !== undefined) conditions.push(eq(t.leases.id, filter.id));
      if (filter.serverId !== undefined) conditions.push(eq(t.leases.serverId, filter.serverId));
      if (filter.secretPath !== undefined) {
        // Revoking a secret also revokes leases of its `#key` selections.
        const path = filter.secretPath;
        conditions.push(or(eq(t.leases.secretPath, path), sql`${t.leases.secretPath} LIKE ${`${escapeLike(path)}#%`} ESCAPE '\\'`)!);
      }
      return this.db.update(t.leases).set({ revokedAt: now, revokeReason: reason }).where(and(...conditions)).returning().all();
    });
  }

  countActiveLeases(now: number): Promise<number> {
    return guarded("countActiveLeases", () => {
      const row = this.db
        .select({ n: sql<number>`count(*)` })
        .from(t.leases)
        .where(and(isNull(t.leases.revokedAt), gt(t.leases.expiresAt, now)))
        .get();
      return row?.n ?? 0;
    });
  }

  // signing keys ----------------------------------------------------------------------------

  insertSigningKey(row: SigningKeyRow): Promise<void> {
    return guarded("insertSigningKey", () => {
      this.db.insert(t.signingKeys).values(row).run();
    });
  }

  listSigningKeys(): Promise<SigningKeyRow[]> {
    return guarded("listSigningKeys", () => this.db.select().from(t.signingKeys).orderBy(asc(t.signingKeys.createdAt), asc(t.signingKeys.kid)).all());
  }

  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void> {
    return guarded("retireSigningKey", () => {
      this.db.update(t.signingKeys).set({ retiredAt, expiresAt }).where(and(eq(t.signingKeys.kid, kid), isNull(t.signingKeys.retiredAt))).run();
    });
  }

  rewrapSigningKey(kid: string, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean> {
    return guarded(
      "rewrapSigningKey",
      () =>
        this.db
          .update(t.signingKeys)
          .set({ keyId, wrappedKey })
          .where(and(eq(t.signingKeys.kid, kid), eq(t.signingKeys.keyId, expectedKeyId)))
          .run().changes > 0,
    );
  }

  rememberAssertion(id: string, expiresAt: number, now: number): Promise<boolean> {
    return guarded("rememberAssertion", () =>
      this.raw.transaction(() => {
        this.db.delete(t.usedAssertions).where(lte(t.usedAssertions.expiresAt, now)).run();
        return this.db.insert(t.usedAssertions).values({ id, expiresAt }).onConflictDoNothing().run().changes > 0;
      })(),
    );
  }

  // audit -----------------------------------------------------------------------------------

  useCommitter(committer: SqliteCommitter): void {
    this.committer = committer;
  }

  appendAudit(entries: AuditEntry[], leases: Lease[] = []): Promise<AuditRecord[]> {
    if (this.committer) return this.appendOffThread(this.committer, entries, leases);
    return guarded("appendAudit", () =>
      this.raw.transaction(() => {
        const statements = this.statements;
        for (const lease of leases) statements.insertLease.run({ ...lease, renewable: lease.renewable ? 1 : 0 });
        const last = statements.lastAudit.get();
        let seq = last?.seq ?? 0;
        let prevHash = last?.hash ?? GENESIS_HASH;
        const records: AuditRecord[] = [];
        for (const entry of entries) {
          seq += 1;
          const hash = chainHash(prevHash, seq, entry);
          const record = chainedRecord(entry, seq, prevHash, hash);
          statements.insertAudit.run(record);
          records.push(record);
          prevHash = hash;
        }
        return records;
      }).immediate(),
    );
  }

  /** The committer thread chains and commits; this thread only waits for the disk's answer. */
  private async appendOffThread(committer: SqliteCommitter, entries: AuditEntry[], leases: Lease[]): Promise<AuditRecord[]> {
    let chain: CommittedChain;
    try {
      const leaseRows: unknown[] = [];
      for (const lease of leases) pushLeaseRow(leaseRows, lease);
      chain = await committer.commit({ auditFields: entries.map(chainFieldValues), leaseRows });
    } catch (error) {
      // The same mapping as on this thread: a duplicate lease id is a conflict, anything else a 503.
      return guarded("appendAudit", () => {
        throw error;
      });
    }
    let prevHash = chain.prevHash;
    return entries.map((entry, index) => {
      const record = chainedRecord(entry, chain.firstSeq + index, prevHash, chain.hashes[index]!);
      prevHash = record.hash;
      return record;
    });
  }

  queryAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return guarded("queryAudit", () => {
      const e = t.auditEvents;
      const conditions = [];
      if (filter.actor !== undefined) conditions.push(eq(e.actor, filter.actor));
      if (filter.resource !== undefined) conditions.push(eq(e.resource, filter.resource));
      if (filter.resourcePrefix !== undefined) conditions.push(sql`${e.resource} LIKE ${`${escapeLike(filter.resourcePrefix)}%`} ESCAPE '\\'`);
      if (filter.action !== undefined) conditions.push(eq(e.action, filter.action));
      if (filter.outcome !== undefined) conditions.push(eq(e.outcome, filter.outcome));
      if (filter.since !== undefined) conditions.push(gte(e.time, filter.since));
      if (filter.until !== undefined) conditions.push(lte(e.time, filter.until));
      if (filter.afterSeq !== undefined) conditions.push(gt(e.seq, filter.afterSeq));
      return this.db
        .select()
        .from(e)
        .where(and(...conditions))
        .orderBy(asc(e.seq))
        .limit(filter.limit)
        .all() as AuditRecord[];
    });
  }

  auditPages(pageSize: number): AsyncIterable<AuditRecord[]> {
    return auditPagesOf(this, {}, pageSize);
  }

  accessSummary(resource: string, since: number | undefined): Promise<AccessSummaryRow[]> {
    return guarded("accessSummary", () => {
      const e = t.auditEvents;
      const conditions = [
        or(eq(e.resource, resource), sql`${e.resource} LIKE ${`${escapeLike(resource)}#%`} ESCAPE '\\'`),
        or(eq(e.action, "secret.read"), eq(e.action, "secret.get")),
      ];
      if (since !== undefined) conditions.push(gte(e.time, since));
      return this.db
        .select({
          actor: e.actor,
          actorKind: e.actorKind,
          count: sql<number>`count(*)`,
          first: sql<number>`min(${e.time})`,
          last: sql<number>`max(${e.time})`,
          allowed: sql<number>`sum(case when ${e.outcome} = 'allowed' then 1 else 0 end)`,
          denied: sql<number>`sum(case when ${e.outcome} = 'denied' then 1 else 0 end)`,
          error: sql<number>`sum(case when ${e.outcome} = 'error' then 1 else 0 end)`,
        })
        .from(e)
        .where(and(...conditions))
        .groupBy(e.actor, e.actorKind)
        .orderBy(asc(e.actor), asc(e.actorKind))
        .all();
    });
  }

  // meta ------------------------------------------------------------------------------------

  getMeta(key: string): Promise<string | undefined> {
    return guarded("getMeta", () => this.db.select().from(t.brokerMeta).where(eq(t.brokerMeta.key, key)).get()?.value);
  }

  setMeta(key: string, value: string): Promise<void> {
    return guarded("setMeta", () => {
      this.db.insert(t.brokerMeta).values({ key, value }).onConflictDoUpdate({ target: t.brokerMeta.key, set: { value } }).run();
    });
  }

  setMetaIfAbsent(key: string, value: string): Promise<boolean> {
    return guarded("setMetaIfAbsent", () => this.db.insert(t.brokerMeta).values({ key, value }).onConflictDoNothing().run().changes > 0);
  }

  async checkAuditWritable(): Promise<void> {
    await this.ping();
    if (!this.committer) {
      return guarded("checkAuditWritable", () => {
        this.raw.prepare("BEGIN IMMEDIATE").run();
        this.raw.prepare("ROLLBACK").run();
      });
    }
    try {
      await this.committer.probe();
    } catch (error) {
      throw new BrokerError("storage_unavailable", "the audit log cannot be written", { detail: `checkAuditWritable: ${String(error)}`, cause: error });
    }
  }

  ping(): Promise<void> {
    return guarded("ping", () => {
      const stopped = this.committer?.stoppedBecause;
      if (stopped) {
        throw new BrokerError("storage_unavailable", "the audit committer stopped: audit records cannot be written", { detail: stopped.message });
      }
      this.raw.prepare("SELECT 1").get();
    });
  }

  async close(): Promise<void> {
    await this.committer?.close();
    this.raw.close();
  }
}
