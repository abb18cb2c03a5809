/**
 * The PostgreSQL store, for several stateless brokers sharing one database: a pg.Pool queried
 * through drizzle-orm. Everything that must not interleave between brokers is serialised by the
 * database itself, never by the process:
 * - migrations run under a session advisory lock, so brokers starting together migrate once;
 * - a secret's next version comes from an upsert that row-locks the `secrets` row until commit;
 * - the audit chain is extended under a transaction advisory lock taken before the last
 *   (seq, hash) is read, so appends from every broker form one unbroken chain.
 * Driver and connection failures surface as BrokerError("storage_unavailable"); a unique-key
 * violation surfaces as BrokerError("conflict"). No raw pg error (which may quote row values)
 * reaches a caller.
 */
import { and, asc, desc, eq, gt, gte, isNull, lte, ne, or, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import { type AuditEntry, type AuditRecord, type Lease, type OperatorRecord, type SecretMetadata, type SecretVersionInfo, type ServerCredential, type ServerRecord } from "../domain.js";
import { chainedRecord, chainHash, GENESIS_HASH } from "../audit/chain.js";
import { BrokerError } from "../errors.js";
import { readMigrations } from "./migrate.js";
import * as t from "./schema.postgres.js";
import { auditPagesOf, escapeLike, parseLabels } from "./shared.js";
import { type AccessSummaryRow, type AuditFilter, type EncryptedVersion, type LeaseFilter, type SecretWrite, type SigningKeyRow, type Store } from "./store.js";

export interface PostgresStoreOptions {
  /** A `postgres://` or `postgresql://` connection URL (libpq-style query parameters such as `sslmode` and `options` apply). */
  url: string;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Time to wait for a connection before failing with storage_unavailable, ms (default 5000). */
  connectTimeoutMs?: number;
  /** Server-side limit on any one statement, lock waits included, ms (default 30000; 0 disables). */
  statementTimeoutMs?: number;
  /** Time `ping()` waits for an answer, ms (default 2000). */
  pingTimeoutMs?: number;
  /** Called when an idle pooled connection fails (e.g. the server restarted); the pool drops it. */
  onIdleConnectionError?: (error: Error) => void;
}

/**
 * Advisory lock keys. Constants in the bigint key space, arbitrary but fixed: every broker sharing
 * the database must use the same ones. Advisory locks are per database, not per schema.
 */
const MIGRATION_LOCK_KEY = 0x63625f6d6967; // "cb_mig"
const AUDIT_CHAIN_LOCK_KEY = 0x63625f617564; // "cb_aud"

/** Rows per multi-row INSERT: well below PostgreSQL's 65535 bind parameters at 15 columns. */
const INSERT_CHUNK = 1000;

/** Opens a pool on `url` and, unless `migrate: false`, applies pending migrations before resolving. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  if (!/^postgres(ql)?:\/\//.test(options.url)) throw new TypeError("openPostgresStore needs a postgres:// or postgresql:// URL");
  const store = new PostgresStore(options);
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

/** `column LIKE 'prefix%'` with the prefix taken literally (E'\\' is a backslash whatever standard_conforming_strings says). */
const startsWith = (column: PgColumn, prefix: string): SQL => sql`${column} LIKE ${`${escapeLike(prefix)}%`} ESCAPE E'\\\\'`;

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

/** The first error in the cause chain that carries a code: a pg DatabaseError (SQLSTATE) or a Node system error. */
function rootCause(error: unknown): { code: string | undefined; message: string; constraint: string | undefined } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" || current.cause === undefined) {
      const constraint = (current as { constraint?: unknown }).constraint;
      return {
        code: typeof code === "string" ? code : undefined,
        // drizzle's wrapper message quotes the query parameters (hashes, ciphertext): never use it.
        message: current.constructor.name === "DrizzleQueryError" ? "query failed" : current.message,
        constraint: typeof constraint === "string" ? constraint : undefined,
      };
    }
    current = current.cause;
  }
  return { code: undefined, message: String(current), constraint: undefined };
}

/** Turns anything a query threw into a BrokerError; detail names the operation, the SQLSTATE and the constraint, never row values. */
function storageError(operation: string, error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  const root = rootCause(error);
  const detail = `${operation}: ${root.code ?? "no code"} ${root.message}${root.constraint ? ` (constraint ${root.constraint})` : ""}`;
  if (root.code === "23505") return new BrokerError("conflict", "a record with the same key already exists", { detail });
  return new BrokerError("storage_unavailable", "storage unavailable", { detail });
}

export class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  readonly pool: pg.Pool;
  readonly db: NodePgDatabase;
  private closed = false;
  private readonly pingTimeoutMs: number;

  constructor(private readonly options: PostgresStoreOptions) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      application_name: "credbroker",
      ...(statementTimeoutMs > 0 && { statement_timeout: statementTimeoutMs }),
      // Our transactions never wait on the network or a person; one left idle means a stuck broker,
      // whose locks (the audit chain's among them) must not hold every other broker up.
      idle_in_transaction_session_timeout: 60_000,
    });
    // A connection's error event without a listener would crash the process. Idle connections
    // report through the pool; checked-out ones (inside a transaction) have no pool listener, so
    // each connection gets its own: the failed query rejects, and the pool drops the connection.
    this.pool.on("error", (error) => options.onIdleConnectionError?.(error));
    this.pool.on("connect", (client) => client.on("error", () => undefined));
    this.db = drizzle(this.pool);
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
  }

  private async guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw storageError(operation, error);
    }
  }

  /**
   * Applies pending migrations, each in its own transaction, on a dedicated connection holding a
   * session advisory lock: brokers starting together wait for the first one, then find nothing to
   * do. The connection has no statement timeout, since a migration may rewrite a large table.
   * Returns the names applied.
   */
  async migrate(): Promise<string[]> {
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      application_name: "credbroker-migrate",
    });
    client.on("error", () => undefined);
    let current = "connect";
    try {
      await client.connect();
      current = "lock";
      await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
      await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at bigint NOT NULL)");
      const applied = new Set((await client.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((row) => row.name));
      const done: string[] = [];
      for (const migration of readMigrations("postgres")) {
        if (applied.has(migration.name)) continue;
        current = migration.name;
        await client.query("BEGIN");
        try {
          await client.query(migration.sql);
          await client.query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)", [migration.name, Date.now()]);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw error;
        }
        done.push(migration.name);
      }
      return done;
    } catch (error) {
      throw storageError(`migrate (${current})`, error);
    } finally {
      // Ending the session releases the advisory lock even if unlocking was never reached.
      await client.end().catch(() => undefined);
    }
  }

  // servers ---------------------------------------------------------------------------------

  createServer(server: ServerRecord): Promise<void> {
    return this.guard("createServer", async () => {
      const inserted = await this.db
        .insert(t.servers)
        .values({ ...server, labels: JSON.stringify(server.labels) })
        .onConflictDoNothing()
        .returning({ id: t.servers.id });
      if (inserted.length === 0) throw new BrokerError("conflict", `server ${server.id} already exists`);
    });
  }

  getServer(id: string): Promise<ServerRecord | undefined> {
    return this.guard("getServer", async () => {
      const [row] = await this.db.select().from(t.servers).where(eq(t.servers.id, id));
      return row && { ...row, labels: parseLabels(row.labels) };
    });
  }

  listServers(): Promise<ServerRecord[]> {
    return this.guard("listServers", async () =>
      (await this.db.select().from(t.servers).orderBy(asc(t.servers.id))).map((row) => ({ ...row, labels: parseLabels(row.labels) })),
    );
  }

  setServerDisabled(id: string, disabledAt: number | null): Promise<boolean> {
    return this.guard("setServerDisabled", async () => {
      const updated = await this.db.update(t.servers).set({ disabledAt }).where(eq(t.servers.id, id)).returning({ id: t.servers.id });
      return updated.length > 0;
    });
  }

  setTokensNotBefore(id: string, notBefore: number): Promise<boolean> {
    return this.guard("setTokensNotBefore", async () => {
      const updated = await this.db
        .update(t.servers)
        .set({ tokensNotBefore: notBefore })
        .where(eq(t.servers.id, id))
        .returning({ id: t.servers.id });
      return updated.length > 0;
    });
  }

  addCredential(credential: ServerCredential): Promise<void> {
    return this.guard("addCredential", async () => {
      await this.db.insert(t.serverCredentials).values(credential);
    });
  }

  activeCredentials(serverId: string): Promise<ServerCredential[]> {
    return this.guard("activeCredentials", () =>
      this.db
        .select()
        .from(t.serverCredentials)
        .where(and(eq(t.serverCredentials.serverId, serverId), isNull(t.serverCredentials.revokedAt)))
        .orderBy(asc(t.serverCredentials.createdAt), asc(t.serverCredentials.id)),
    );
  }

  revokeCredentials(serverId: string, now: number, kind?: ServerCredential["kind"]): Promise<number> {
    return this.guard("revokeCredentials", async () => {
      const conditions = [eq(t.serverCredentials.serverId, serverId), isNull(t.serverCredentials.revokedAt)];
      if (kind) conditions.push(eq(t.serverCredentials.kind, kind));
      const revoked = await this.db
        .update(t.serverCredentials)
        .set({ revokedAt: now })
        .where(and(...conditions))
        .returning({ id: t.serverCredentials.id });
      return revoked.length;
    });
  }

  // operators -------------------------------------------------------------------------------

  createOperator(operator: OperatorRecord & { tokenHash: string }): Promise<void> {
    return this.guard("createOperator", async () => {
      // One statement: a revoked name is taken over, an active one is left alone and reported.
      const written = await this.db
        .insert(t.operators)
        .values(operator)
        .onConflictDoUpdate({
          target: t.operators.name,
          set: { role: operator.role, tokenHash: operator.tokenHash, createdAt: operator.createdAt, revokedAt: null },
          setWhere: sql`${t.operators.revokedAt} IS NOT NULL`,
        })
        .returning({ name: t.operators.name });
      if (written.length === 0) throw new BrokerError("conflict", `operator ${operator.name} already exists`);
    });
  }

  private readonly operatorColumns = {
    name: t.operators.name,
    role: t.operators.role,
    createdAt: t.operators.createdAt,
    revokedAt: t.operators.revokedAt,
  };

  operatorByTokenHash(tokenHash: string): Promise<OperatorRecord | undefined> {
    return this.guard("operatorByTokenHash", async () => {
      const [row] = await this.db.select(this.operatorColumns).from(t.operators).where(eq(t.operators.tokenHash, tokenHash));
      return row;
    });
  }

  listOperators(): Promise<OperatorRecord[]> {
    return this.guard("listOperators", () => this.db.select(this.operatorColumns).from(t.operators).orderBy(asc(t.operators.name)));
  }

  revokeOperator(name: string, now: number): Promise<boolean> {
    return this.guard("revokeOperator", async () => {
      const revoked = await this.db
        .update(t.operators)
        .set({ revokedAt: now })
        .where(and(eq(t.operators.name, name), isNull(t.operators.revokedAt)))
        .returning({ name: t.operators.name });
      return revoked.length > 0;
    });
  }

  countActiveOperators(): Promise<number> {
    return this.guard("countActiveOperators", async () => {
      const [row] = await this.db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(t.operators).where(isNull(t.operators.revokedAt));
      return row?.n ?? 0;
    });
  }

  // secrets ---------------------------------------------------------------------------------

  writeSecretVersion(write: SecretWrite): Promise<number> {
    return this.guard("writeSecretVersion", () =>
      this.db.transaction(async (tx) => {
        const meta = write.metadata ?? {};
        const s = t.secrets;
        const recreated = sql`${s.deletedAt} IS NOT NULL`;
        /** Given → the new value; not given → kept, unless the path was deleted (then the default, as on a first write). */
        const metadataUpdate = (column: PgColumn, given: unknown) =>
          given === undefined ? sql`CASE WHEN ${recreated} THEN excluded.${sql.identifier(column.name)} ELSE ${column} END` : sql`excluded.${sql.identifier(column.name)}`;
        // The upsert row-locks the path until commit, so concurrent writers (any broker) get
        // consecutive versions. A deleted path continues above its old versions: numbers are never reused.
        const [row] = await tx
          .insert(s)
          .values({
            path: write.path,
            description: meta.description ?? "",
            owner: meta.owner ?? "",
            labels: JSON.stringify(meta.labels ?? {}),
            sensitivity: meta.sensitivity ?? "medium",
            currentVersion: 1,
            createdAt: write.now,
            updatedAt: write.now,
            deletedAt: null,
          })
          .onConflictDoUpdate({
            target: s.path,
            set: {
              currentVersion: sql`${s.currentVersion} + 1`,
              description: metadataUpdate(s.description, meta.description),
              owner: metadataUpdate(s.owner, meta.owner),
              labels: metadataUpdate(s.labels, meta.labels),
              sensitivity: metadataUpdate(s.sensitivity, meta.sensitivity),
              createdAt: sql`CASE WHEN ${recreated} THEN excluded.created_at ELSE ${s.createdAt} END`,
              updatedAt: write.now,
              deletedAt: null,
            },
          })
          .returning({ version: s.currentVersion });
        if (!row) throw new Error("the secrets upsert returned no row");
        const sealed = write.seal(row.version);
        await tx
          .insert(t.secretVersions)
          .values({ path: write.path, version: row.version, ...sealed, createdAt: write.now, createdBy: write.createdBy, destroyedAt: null });
        return row.version;
      }),
    );
  }

  getSecretMetadata(path: string): Promise<SecretMetadata | undefined> {
    return this.guard("getSecretMetadata", async () => {
      const [row] = await this.db.select().from(t.secrets).where(eq(t.secrets.path, path));
      return row && { ...row, labels: parseLabels(row.labels) };
    });
  }

  listSecrets(prefix: string): Promise<SecretMetadata[]> {
    return this.guard("listSecrets", async () =>
      (
        await this.db
          .select()
          .from(t.secrets)
          .where(and(isNull(t.secrets.deletedAt), startsWith(t.secrets.path, prefix)))
          .orderBy(asc(t.secrets.path))
      ).map((row) => ({ ...row, labels: parseLabels(row.labels) })),
    );
  }

  getEncryptedVersion(path: string, version: number): Promise<EncryptedVersion | undefined> {
    return this.guard("getEncryptedVersion", async () => {
      const [row] = await this.db
        .select()
        .from(t.secretVersions)
        .where(and(eq(t.secretVersions.path, path), eq(t.secretVersions.version, version)));
      return row;
    });
  }

  getCurrentEncryptedVersion(path: string): Promise<EncryptedVersion | undefined> {
    return this.guard("getCurrentEncryptedVersion", async () => {
      const [row] = await this.db
        .select({ version: t.secretVersions })
        .from(t.secrets)
        .innerJoin(t.secretVersions, and(eq(t.secretVersions.path, t.secrets.path), eq(t.secretVersions.version, t.secrets.currentVersion)))
        .where(and(eq(t.secrets.path, path), isNull(t.secrets.deletedAt)));
      return row?.version;
    });
  }

  listVersions(path: string): Promise<SecretVersionInfo[]> {
    return this.guard("listVersions", () =>
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
        .orderBy(asc(t.secretVersions.version)),
    );
  }

  deleteSecret(path: string, now: number): Promise<boolean> {
    return this.guard("deleteSecret", () =>
      this.db.transaction(async (tx) => {
        const deleted = await tx
          .update(t.secrets)
          .set({ deletedAt: now, updatedAt: now })
          .where(and(eq(t.secrets.path, path), isNull(t.secrets.deletedAt)))
          .returning({ path: t.secrets.path });
        if (deleted.length === 0) return false;
        // Destroy the ciphertext (an empty bytea) but keep the row: version numbers are never reused.
        await tx
          .update(t.secretVersions)
          .set({ destroyedAt: now, ciphertext: Buffer.alloc(0), wrappedKey: Buffer.alloc(0) })
          .where(and(eq(t.secretVersions.path, path), isNull(t.secretVersions.destroyedAt)));
        return true;
      }),
    );
  }

  versionsNotWrappedBy(keyId: string, limit: number): Promise<EncryptedVersion[]> {
    return this.guard("versionsNotWrappedBy", () =>
      this.db
        .select()
        .from(t.secretVersions)
        .where(and(ne(t.secretVersions.keyId, keyId), isNull(t.secretVersions.destroyedAt)))
        .orderBy(asc(t.secretVersions.path), asc(t.secretVersions.version))
        .limit(limit),
    );
  }

  rewrapVersion(path: string, version: number, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean> {
    return this.guard("rewrapVersion", async () => {
      const updated = await this.db
        .update(t.secretVersions)
        .set({ keyId, wrappedKey })
        .where(and(eq(t.secretVersions.path, path), eq(t.secretVersions.version, version), eq(t.secretVersions.keyId, expectedKeyId)))
        .returning({ version: t.secretVersions.version });
      return updated.length > 0;
    });
  }

  // leases ----------------------------------------------------------------------------------

  insertLease(lease: Lease): Promise<void> {
    return this.guard("insertLease", async () => {
      await this.db.insert(t.leases).values(lease);
    });
  }

  getLease(id: string): Promise<Lease | undefined> {
    return this.guard("getLease", async () => {
      const [row] = await this.db.select().from(t.leases).where(eq(t.leases.id, id));
      return row;
    });
  }

  listLeases(filter: LeaseFilter): Promise<Lease[]> {
    return this.guard("listLeases", () => {
      const conditions: SQL[] = [];
      if (filter.serverId !== undefined) conditions.push(eq(t.leases.serverId, filter.serverId));
      if (filter.secretPath !== undefined) conditions.push(eq(t.leases.secretPath, filter.secretPath));
      if (filter.activeAt !== undefined) conditions.push(isNull(t.leases.revokedAt), gt(t.leases.expiresAt, filter.activeAt));
      return this.db
        .select()
        .from(t.leases)
        .where(and(...conditions))
        .orderBy(asc(t.leases.issuedAt), asc(t.leases.id));
    });
  }

  extendLease(id: string, expiresAt: number): Promise<boolean> {
    return this.guard("extendLease", async () => {
      const updated = await this.db
        .update(t.leases)
        .set({ expiresAt })
        .where(and(eq(t.leases.id, id), isNull(t.leases.revokedAt)))
        .returning({ id: t.leases.id });
      return updated.length > 0;
    });
  }

  revokeLeases(filter: { id?: string; serverId?: string; secretPath?: string }, now: number, reason: string): Promise<Lease[]> {
    if (filter.id === undefined && filter.serverId === undefined && filter.secretPath === undefined) {
      return Promise.reject(new TypeError("revokeLeases needs at least one filter"));
    }
    return this.guard("revokeLeases", () => {
      const conditions: SQL[] = [isNull(t.leases.revokedAt), gt(t.leases.expiresAt, now)];
      if (filter.id !== undefined) conditions.push(eq(t.leases.id, filter.id));
      if (filter.serverId !== undefined) conditions.push(eq(t.leases.serverId, filter.serverId));
      if (filter.secretPath !== undefined) {
        // Revoking a secret also revokes leases of its `#key` selections.
        conditions.push(or(eq(t.leases.secretPath, filter.secretPath), startsWith(t.leases.secretPath, `${filter.secretPath}#`))!);
      }
      return this.db.update(t.leases).set({ revokedAt: now, revokeReason: reason }).where(and(...conditions)).returning();
    });
  }

  countActiveLeases(now: number): Promise<number> {
    return this.guard("countActiveLeases", async () => {
      const [row] = await this.db
        .select({ n: sql<number>`count(*)`.mapWith(Number) })
        .from(t.leases)
        .where(and(isNull(t.leases.revokedAt), gt(t.leases.expiresAt, now)));
      return row?.n ?? 0;
    });
  }

  // signing keys ----------------------------------------------------------------------------

  insertSigningKey(row: SigningKeyRow): Promise<void> {
    return this.guard("insertSigningKey", async () => {
      await this.db.insert(t.signingKeys).values(row);
    });
  }

  listSigningKeys(): Promise<SigningKeyRow[]> {
    return this.guard("listSigningKeys", () =>
      this.db.select().from(t.signingKeys).orderBy(asc(t.signingKeys.createdAt), asc(t.signingKeys.kid)),
    );
  }

  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void> {
    return this.guard("retireSigningKey", async () => {
      await this.db
        .update(t.signingKeys)
        .set({ retiredAt, expiresAt })
        .where(and(eq(t.signingKeys.kid, kid), isNull(t.signingKeys.retiredAt)));
    });
  }

  rewrapSigningKey(kid: string, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean> {
    return this.guard("rewrapSigningKey", async () => {
      const updated = await this.db
        .update(t.signingKeys)
        .set({ keyId, wrappedKey })
        .where(and(eq(t.signingKeys.kid, kid), eq(t.signingKeys.keyId, expectedKeyId)))
        .returning({ kid: t.signingKeys.kid });
      return updated.length > 0;
    });
  }

  rememberAssertion(id: string, expiresAt: number, now: number): Promise<boolean> {
    return this.guard("rememberAssertion", async () => {
      await this.db.delete(t.usedAssertions).where(lte(t.usedAssertions.expiresAt, now));
      // Two brokers seeing the same assertion at once: the second insert waits for the first to
      // commit, then does nothing, so exactly one of them accepts it.
      const inserted = await this.db
        .insert(t.usedAssertions)
        .values({ id, expiresAt })
        .onConflictDoNothing()
        .returning({ id: t.usedAssertions.id });
      return inserted.length > 0;
    });
  }

  // audit -----------------------------------------------------------------------------------

  appendAudit(entries: AuditEntry[], leases: Lease[] = []): Promise<AuditRecord[]> {
    return this.guard("appendAudit", () =>
      this.db.transaction(async (tx) => {
        for (const chunk of chunks(leases, INSERT_CHUNK)) await tx.insert(t.leases).values(chunk);
        // Held until COMMIT or ROLLBACK: the (seq, hash) read below is the head every other broker
        // will chain onto next, and nobody else can extend the chain in between.
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY}::bigint)`);
        const [last] = await tx
          .select({ seq: t.auditEvents.seq, hash: t.auditEvents.hash })
          .from(t.auditEvents)
          .orderBy(desc(t.auditEvents.seq))
          .limit(1);
        let seq = last?.seq ?? 0;
        let prevHash = last?.hash ?? GENESIS_HASH;
        const records: AuditRecord[] = [];
        for (const entry of entries) {
          seq += 1;
          const hash = chainHash(prevHash, seq, entry);
          records.push(chainedRecord(entry, seq, prevHash, hash));
          prevHash = hash;
        }
        for (const chunk of chunks(records, INSERT_CHUNK)) await tx.insert(t.auditEvents).values(chunk);
        return records;
      }),
    );
  }

  queryAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return this.guard("queryAudit", () => {
      const e = t.auditEvents;
      const conditions: SQL[] = [];
      if (filter.actor !== undefined) conditions.push(eq(e.actor, filter.actor));
      if (filter.resource !== undefined) conditions.push(eq(e.resource, filter.resource));
      if (filter.resourcePrefix !== undefined) conditions.push(startsWith(e.resource, filter.resourcePrefix));
      if (filter.action !== undefined) conditions.push(eq(e.action, filter.action));
      if (filter.outcome !== undefined) conditions.push(sql`${e.outcome} = ${filter.outcome}`);
      if (filter.since !== undefined) conditions.push(gte(e.time, filter.since));
      if (filter.until !== undefined) conditions.push(lte(e.time, filter.until));
      if (filter.afterSeq !== undefined) conditions.push(gt(e.seq, filter.afterSeq));
      return this.db
        .select()
        .from(e)
        .where(and(...conditions))
        .orderBy(asc(e.seq))
        .limit(filter.limit);
    });
  }

  auditPages(pageSize: number): AsyncIterable<AuditRecord[]> {
    return auditPagesOf(this, {}, pageSize);
  }

  accessSummary(resource: string, since: number | undefined): Promise<AccessSummaryRow[]> {
    return this.guard("accessSummary", () => {
      const e = t.auditEvents;
      const conditions: SQL[] = [
        or(eq(e.resource, resource), startsWith(e.resource, `${resource}#`))!,
        or(eq(e.action, "secret.read"), eq(e.action, "secret.get"))!,
      ];
      if (since !== undefined) conditions.push(gte(e.time, since));
      // count, min, max and sum over bigint come back as strings from pg: map them to numbers.
      const outcomeCount = (outcome: string) => sql<number>`sum(case when ${e.outcome} = ${outcome} then 1 else 0 end)`.mapWith(Number);
      return this.db
        .select({
          actor: e.actor,
          actorKind: e.actorKind,
          count: sql<number>`count(*)`.mapWith(Number),
          first: sql<number>`min(${e.time})`.mapWith(Number),
          last: sql<number>`max(${e.time})`.mapWith(Number),
          allowed: outcomeCount("allowed"),
          denied: outcomeCount("denied"),
          error: outcomeCount("error"),
        })
        .from(e)
        .where(and(...conditions))
        .groupBy(e.actor, e.actorKind)
        .orderBy(asc(e.actor), asc(e.actorKind));
    });
  }

  // meta ------------------------------------------------------------------------------------

  getMeta(key: string): Promise<string | undefined> {
    return this.guard("getMeta", async () => {
      const [row] = await this.db.select({ value: t.brokerMeta.value }).from(t.brokerMeta).where(eq(t.brokerMeta.key, key));
      return row?.value;
    });
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.guard("setMeta", async () => {
      await this.db.insert(t.brokerMeta).values({ key, value }).onConflictDoUpdate({ target: t.brokerMeta.key, set: { value } });
    });
  }

  setMetaIfAbsent(key: string, value: string): Promise<boolean> {
    return this.guard("setMetaIfAbsent", async () => {
      const inserted = await this.db.insert(t.brokerMeta).values({ key, value }).onConflictDoNothing().returning({ key: t.brokerMeta.key });
      return inserted.length > 0;
    });
  }

  /** `SELECT 1`, failing with storage_unavailable after `pingTimeoutMs` (connection wait included). */
  ping(): Promise<void> {
    return this.guard("ping", async () => {
      await this.withPingTimeout(this.pool.query("SELECT 1"));
    });
  }

  checkAuditWritable(): Promise<void> {
    return this.guard("checkAuditWritable", async () => {
      const { rows } = await this.withPingTimeout(
        this.pool.query<{ standby: boolean; can_insert: boolean }>(
          "SELECT pg_is_in_recovery() AS standby, has_table_privilege(current_user, 'audit_events', 'INSERT') AS can_insert",
        ),
      );
      const [state] = rows;
      if (state?.standby) throw new BrokerError("storage_unavailable", "the database is a read-only standby: the audit log cannot be written");
      if (!state?.can_insert) throw new BrokerError("storage_unavailable", "the database user may not insert audit records");
    });
  }

  /** Fails after `pingTimeoutMs` (connection wait included). */
  private async withPingTimeout<T>(query: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.pingTimeoutMs} ms`)), this.pingTimeoutMs);
    });
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the pool once every checked-out connection is released; later calls do nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
