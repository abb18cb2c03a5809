/**
 * What the shared repositories (../repositories) need from a database: run a drizzle `sql` query,
 * run a statement, run a transaction, and compile a statement once for the per-request path.
 * One implementation per dialect (sqlite-executor.ts, postgres-executor.ts). Queries are built with
 * drizzle's `sql` template and operators over the dialect's own table objects, so identifiers,
 * placeholders and column encoders (booleans, bigints) render for that dialect.
 *
 * Rows come back as the driver returns them, keyed by column name; rows.ts turns driver types
 * into the domain's (bigint text and numbers, 0/1 and booleans).
 */
import type { SQL } from "drizzle-orm";

/** A result row as the driver returns it: column name → driver value. */
export type Row = Record<string, unknown>;

export interface SqlExecutor {
  /** Every row of `query`. */
  all(query: SQL): Promise<Row[]>;
  /** The first row of `query`, undefined when there is none. */
  get(query: SQL): Promise<Row | undefined>;
  /** Runs a statement; resolves with the number of rows it inserted, updated or deleted. */
  run(query: SQL): Promise<number>;
  /**
   * Runs `work` in one write transaction: committed when it resolves, rolled back when it
   * rejects. Inside, use only the executor `work` receives. A transaction inside a transaction
   * joins the outer one.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** `query` compiled once (on first use), run with the values of its `sql.placeholder(name)`s. */
  prepare(query: SQL): PreparedQuery;
}

export interface PreparedQuery {
  get(values: Record<string, unknown>): Promise<Row | undefined>;
  all(values: Record<string, unknown>): Promise<Row[]>;
}
