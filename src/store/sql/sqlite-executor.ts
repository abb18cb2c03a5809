/**
 * The SQL executor over better-sqlite3. The driver is synchronous, so every call has already run
 * when its promise is returned. A transaction spans awaits, though, and on one connection any
 * statement run meanwhile would join it (and see, or lose with it, its writes): while a
 * transaction is open, calls from outside it wait until it ends.
 */
import type Database from "better-sqlite3";
import { fillPlaceholders, type SQL } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { PreparedQuery, Row, SqlExecutor } from "./executor.js";

const dialect = new SQLiteSyncDialect();

function isRow(value: unknown): value is Row {
  return typeof value === "object" && value !== null;
}

function rows(values: unknown[]): Row[] {
  return values.filter(isRow);
}

export class SqliteExecutor implements SqlExecutor {
  /** Settles when the open transaction ends; undefined while none is open. */
  private open: Promise<void> | undefined;
  /** The executor a transaction's work runs on: the same connection, never waiting for itself. */
  private readonly inside: SqlExecutor;

  constructor(private readonly raw: Database.Database) {
    const statement = (query: SQL) => {
      const { sql, params } = dialect.sqlToQuery(query);
      return { statement: raw.prepare(sql), params };
    };
    this.inside = {
      all: async (query) => {
        const { statement: s, params } = statement(query);
        return s.reader ? rows(s.all(params)) : (s.run(params), []);
      },
      get: async (query) => {
        const { statement: s, params } = statement(query);
        const row: unknown = s.get(params);
        return isRow(row) ? row : undefined;
      },
      run: async (query) => {
        const { statement: s, params } = statement(query);
        return s.run(params).changes;
      },
      transaction: (work) => work(this.inside),
      prepare: (query) => this.prepare(query),
    };
  }

  async all(query: SQL): Promise<Row[]> {
    while (this.open) await this.open;
    return this.inside.all(query);
  }

  async get(query: SQL): Promise<Row | undefined> {
    while (this.open) await this.open;
    return this.inside.get(query);
  }

  async run(query: SQL): Promise<number> {
    while (this.open) await this.open;
    return this.inside.run(query);
  }

  /** BEGIN IMMEDIATE: every transaction here writes, so it takes the write lock up front (no upgrade deadlock). */
  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    // Checked and taken with no await in between, so two waiting transactions cannot both start.
    while (this.open) await this.open;
    let end!: () => void;
    this.open = new Promise((resolve) => (end = resolve));
    try {
      this.raw.exec("BEGIN IMMEDIATE");
      try {
        const result = await work(this.inside);
        this.raw.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.raw.inTransaction) this.raw.exec("ROLLBACK");
        throw error;
      }
    } finally {
      this.open = undefined;
      end();
    }
  }

  prepare(query: SQL): PreparedQuery {
    let compiled: { statement: Database.Statement; params: unknown[] } | undefined;
    const bound = (values: Record<string, unknown>) => {
      // Compiled on first use, after migrations have created the tables.
      compiled ??= (() => {
        const { sql, params } = dialect.sqlToQuery(query);
        return { statement: this.raw.prepare(sql), params };
      })();
      return { statement: compiled.statement, params: fillPlaceholders(compiled.params, values) };
    };
    return {
      get: async (values) => {
        while (this.open) await this.open;
        const { statement, params } = bound(values);
        const row: unknown = statement.get(params);
        return isRow(row) ? row : undefined;
      },
      all: async (values) => {
        while (this.open) await this.open;
        const { statement, params } = bound(values);
        return rows(statement.all(params));
      },
    };
  }
}
