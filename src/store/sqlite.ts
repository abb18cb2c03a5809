/**
 * The SQLite store: better-sqlite3 in WAL mode with synchronous=FULL (every commit is fsynced, so
 * an audit record acknowledged by appendAudit survives a crash). The logic is the shared
 * repositories' (repository-store.ts); what is SQLite's own: opening the file, migrations, reading
 * driver errors, the row cache (this process is the file's only writer), and audit appends through
 * the committer thread (sqlite-committer.ts).
 */
import Database from "better-sqlite3";
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { chainedRecord, chainFieldValues, type ChainKey } from "../audit/chain.js";
import type { AuditEntry, AuditRecord, Lease } from "../domain.js";
import { BrokerError } from "../errors.js";
import { readMigrations } from "./migrate.js";
import { createRepositories, RepositoryStore } from "./repository-store.js";
import { cachedSecrets, cachedServers } from "./row-cache.js";
import { SqliteExecutor } from "./sql/sqlite-executor.js";
import { pushLeaseRow, SqliteCommitter, type CommittedChain } from "./sqlite-committer.js";
import { sqliteTables } from "./tables.js";

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

/**
 * The database file is the broker's alone: its folder, when created here, 0700, the file 0600
 * (created so, or tightened). SQLite gives the WAL and shared-memory files the database file's
 * mode, so they are private too.
 */
function makePrivate(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, "a", 0o600));
  if ((statSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  if (options.file !== ":memory:") makePrivate(options.file);
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

/** better-sqlite3's codes for a duplicate key (SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE). */
const DUPLICATE_KEY_CODES = new Set(["SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"]);

/** A duplicate key is `conflict`, as on PostgreSQL; any other failure (disk full, locked, I/O) a coded 503. */
function sqliteStorageError(operation: string, error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  const detail = `${operation}: ${String(error)}`;
  const code = error instanceof Error && "code" in error ? error.code : undefined;
  if (typeof code === "string" && DUPLICATE_KEY_CODES.has(code)) {
    return new BrokerError("conflict", "a record with the same key already exists", { detail, cause: error });
  }
  return new BrokerError("storage_unavailable", "storage unavailable", { detail, cause: error });
}

export class SqliteStore extends RepositoryStore {
  readonly dialect = "sqlite" as const;
  private committer: SqliteCommitter | undefined;

  constructor(readonly raw: Database.Database) {
    super(
      createRepositories(new SqliteExecutor(raw), sqliteTables, {
        // BEGIN IMMEDIATE (the executor's transactions) already holds the file's write lock.
        lockChain: async () => undefined,
        // This process is the file's only writer: the per-request rows can be cached (row-cache.ts).
        decorate: (repositories) => ({ ...repositories, servers: cachedServers(repositories.servers), secrets: cachedSecrets(repositories.secrets) }),
      }),
    );
  }

  protected storageError(operation: string, error: unknown): BrokerError {
    return sqliteStorageError(operation, error);
  }

  /** Applies pending migrations; returns the names applied. */
  migrate(): string[] {
    this.raw.exec("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)");
    const applied = new Set(this.raw.prepare<[], { name: string }>("SELECT name FROM schema_migrations").all().map((row) => row.name));
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

  useCommitter(committer: SqliteCommitter): void {
    this.committer = committer;
  }

  override useAuditChainKey(key: ChainKey): void {
    super.useAuditChainKey(key);
    this.committer?.useChainKey(key);
  }

  appendAudit(entries: AuditEntry[], leases: Lease[] = []): Promise<AuditRecord[]> {
    if (this.committer) return this.appendOffThread(this.committer, entries, leases);
    return this.guard("appendAudit", () => this.repositories.audit.append(this.requireChainKey(), entries, leases));
  }

  /** The committer thread chains and commits; this thread only waits for the disk's answer. */
  private async appendOffThread(committer: SqliteCommitter, entries: AuditEntry[], leases: Lease[]): Promise<AuditRecord[]> {
    let chain: CommittedChain;
    try {
      // The committer holds its own copy; this check keeps both threads' refusal the same.
      this.requireChainKey();
      const leaseRows: unknown[] = [];
      for (const lease of leases) pushLeaseRow(leaseRows, lease);
      chain = await committer.commit({ auditFields: entries.map(chainFieldValues), leaseRows });
    } catch (error) {
      // The same reading as on this thread: a duplicate lease id is a conflict, anything else a 503.
      throw sqliteStorageError("appendAudit", error);
    }
    let prevHash = chain.prevHash;
    return entries.map((entry, index) => {
      const record = chainedRecord(entry, chain.firstSeq + index, prevHash, chain.hashes[index]!);
      prevHash = record.hash;
      return record;
    });
  }

  async checkAuditWritable(): Promise<void> {
    await this.ping();
    if (!this.committer) {
      return this.guard("checkAuditWritable", async () => {
        // A real commit of one meta row, outside the audit chain: taking the lock alone succeeds on a WAL that cannot be written.
        await this.repositories.meta.set("readiness_probe", new Date().toISOString());
      });
    }
    try {
      await this.committer.probe();
    } catch (error) {
      throw new BrokerError("storage_unavailable", "the audit log cannot be written", { detail: `checkAuditWritable: ${String(error)}`, cause: error });
    }
  }

  ping(): Promise<void> {
    return this.guard("ping", async () => {
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
