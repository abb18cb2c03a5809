/**
 * The PostgreSQL store, for several stateless brokers sharing one database: a pg.Pool under the
 * shared repositories (repository-store.ts). What is PostgreSQL's own: the pool, migrations,
 * reading SQLSTATEs, advisory locks and the readiness probes. No row cache: other brokers write
 * the same rows. Everything that must not interleave between brokers is serialised by the
 * database itself, never by the process:
 * - migrations run under a session advisory lock, so brokers starting together migrate once;
 * - a secret's next version comes from an upsert that row-locks the `secrets` row until commit;
 * - the audit chain is extended under a transaction advisory lock taken before the last
 *   (seq, hash) is read, so appends from every broker form one unbroken chain.
 * Driver and connection failures surface as BrokerError("storage_unavailable"); a unique-key
 * violation surfaces as BrokerError("conflict"). No raw pg error (which may quote row values)
 * reaches a caller.
 */
import { sql } from "drizzle-orm";
import pg from "pg";
import type { AuditEntry, AuditRecord, Lease } from "../domain.js";
import { BrokerError } from "../errors.js";
import { readMigrations } from "./migrate.js";
import { createRepositories, RepositoryStore } from "./repository-store.js";
import { postgresExecutor } from "./sql/postgres-executor.js";
import { postgresTables } from "./tables.js";

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

/** The first error in the cause chain that carries a code: a pg DatabaseError (SQLSTATE) or a Node system error. */
function rootCause(error: unknown): { code: string | undefined; message: string; constraint: string | undefined } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" || current.cause === undefined) {
      const constraint = (current as { constraint?: unknown }).constraint;
      return {
        code: typeof code === "string" ? code : undefined,
        message: current.message,
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

export class PostgresStore extends RepositoryStore {
  readonly dialect = "postgres" as const;
  readonly pool: pg.Pool;
  private closed = false;
  private readonly pingTimeoutMs: number;

  constructor(private readonly options: PostgresStoreOptions) {
    const pool = PostgresStore.pool(options);
    super(
      createRepositories(postgresExecutor(pool), postgresTables, {
        // Held until COMMIT or ROLLBACK: the head the append reads next is the one every other
        // broker will chain onto, and nobody else can extend the chain in between.
        lockChain: async (tx) => {
          await tx.run(sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY}::bigint)`);
        },
      }),
    );
    this.pool = pool;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
  }

  private static pool(options: PostgresStoreOptions): pg.Pool {
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    const pool = new pg.Pool({
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
    pool.on("error", (error) => options.onIdleConnectionError?.(error));
    pool.on("connect", (client) => client.on("error", () => undefined));
    return pool;
  }

  protected storageError(operation: string, error: unknown): BrokerError {
    return storageError(operation, error);
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

  appendAudit(entries: AuditEntry[], leases: Lease[] = []): Promise<AuditRecord[]> {
    return this.guard("appendAudit", () => this.repositories.audit.append(this.requireChainKey(), entries, leases));
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
      // A real commit of one meta row, outside the audit chain: a read-only transaction default, a full disk or a lost primary fail here.
      await this.withPingTimeout(this.repositories.meta.set("readiness_probe", new Date().toISOString()));
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
