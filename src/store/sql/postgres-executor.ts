/** The SQL executor over a node-postgres pool: each call on any free connection, a transaction on one. */
import { fillPlaceholders, type SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type pg from "pg";
import type { PreparedQuery, Row, SqlExecutor } from "./executor.js";

const dialect = new PgDialect();

type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

function executorOn(client: Queryable, transaction: SqlExecutor["transaction"]): SqlExecutor {
  const query = async (statement: SQL) => {
    const { sql, params } = dialect.sqlToQuery(statement);
    return client.query<Row>(sql, params);
  };
  const prepare = (statement: SQL): PreparedQuery => {
    const { sql, params } = dialect.sqlToQuery(statement);
    return {
      get: async (values) => (await client.query<Row>(sql, fillPlaceholders(params, values))).rows[0],
      all: async (values) => (await client.query<Row>(sql, fillPlaceholders(params, values))).rows,
    };
  };
  return {
    all: async (statement) => (await query(statement)).rows,
    get: async (statement) => (await query(statement)).rows[0],
    run: async (statement) => (await query(statement)).rowCount ?? 0,
    transaction,
    prepare,
  };
}

export function postgresExecutor(pool: pg.Pool): SqlExecutor {
  const transaction: SqlExecutor["transaction"] = async (work) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const inside = executorOn(client, (nested) => nested(inside));
      const result = await work(inside);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        // A connection that cannot even roll back is not given back to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      client.release(broken);
    }
  };
  return executorOn(pool, transaction);
}
