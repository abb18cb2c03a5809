/**
 * Statement pieces the repositories share, built with drizzle's `sql` over a dialect's table
 * objects (see tables.ts). Column names given as the schema's property names (`createdAt`) are
 * checked against the table; values are bound with the column's encoder, so a boolean becomes
 * 0/1 on SQLite and a boolean on PostgreSQL.
 */
import { getTableColumns, getTableName, is, SQL, sql, type Column, type Table } from "drizzle-orm";
import { escapeLike } from "../shared.js";

/** Property names of a table's columns. */
export type ColumnKey<T extends Table> = Exclude<keyof T, keyof Table> & string;

/** Values by column property name; an SQL value is written as it is (an expression). */
export type ColumnValues<T extends Table> = { [K in ColumnKey<T>]?: unknown };

function columnOf(table: Table, key: string): Column {
  const column = getTableColumns(table)[key];
  if (!column) throw new TypeError(`${getTableName(table)} has no column ${key}`);
  return column;
}

const bound = (value: unknown, column: Column): SQL => (is(value, SQL) ? value : sql`${sql.param(value, column)}`);

/** `"t"."a", "t"."b", ...`: every column of `table`, each named as in the database. */
export function allColumns(table: Table): SQL {
  return sql.join(Object.values(getTableColumns(table)), sql`, `);
}

/** `INSERT INTO table (columns) VALUES (...), (...)`: one statement for every row, the columns of the first. */
export function insertInto<T extends Table>(table: T, rows: ColumnValues<T>[]): SQL {
  const first = rows[0];
  if (!first) throw new TypeError(`an insert into ${getTableName(table)} needs at least one row`);
  const keys = Object.keys(first);
  const columns = keys.map((key) => columnOf(table, key));
  const tuples = rows.map((row) => {
    const values: Record<string, unknown> = row;
    return sql`(${sql.join(
      keys.map((key, index) => bound(values[key], columns[index]!)),
      sql`, `,
    )})`;
  });
  return sql`insert into ${table} (${sql.join(
    columns.map((column) => sql.identifier(column.name)),
    sql`, `,
  )}) values ${sql.join(tuples, sql`, `)}`;
}

/** `"a" = ?, "b" = ?` for UPDATE ... SET and ON CONFLICT ... DO UPDATE SET. */
export function assignments<T extends Table>(table: T, values: ColumnValues<T>): SQL {
  const entries = Object.entries(values).map(([key, value]) => {
    const column = columnOf(table, key);
    return sql`${sql.identifier(column.name)} = ${bound(value, column)}`;
  });
  if (entries.length === 0) throw new TypeError(`an update of ${getTableName(table)} needs at least one column`);
  return sql.join(entries, sql`, `);
}

/** `excluded."column"`: the value an upsert tried to insert. */
export function excluded(column: Column): SQL {
  return sql`excluded.${sql.identifier(column.name)}`;
}

/** `column` starts with `prefix`, taken literally (`%`, `_` and `\` are not wildcards) and case-sensitively. */
export function startsWith(column: Column, prefix: string): SQL {
  // The escape character is bound, not a literal: SQLite and PostgreSQL read '\' in literals differently.
  return sql`${column} like ${`${escapeLike(prefix)}%`} escape ${"\\"}`;
}

/** ` where a and b ...` of the conditions given (undefined ones left out); empty when none remain. */
export function whereAll(...conditions: Array<SQL | undefined>): SQL {
  const present = conditions.filter((condition): condition is SQL => condition !== undefined);
  return present.length === 0 ? sql`` : sql` where ${sql.join(present, sql` and `)}`;
}

/** `column > page.after` (keyset pagination on a unique sort column); undefined from the first row. */
export function afterKey<Key>(column: Column, page: { after?: Key } | undefined): SQL | undefined {
  return page?.after === undefined ? undefined : sql`${column} > ${page.after}`;
}

/** ` limit N` of a page; empty without one. A limit that is not a positive integer is misuse (TypeError). */
export function pageLimit(page: { limit: number } | undefined): SQL {
  if (page === undefined) return sql``;
  if (!Number.isInteger(page.limit) || page.limit < 1) throw new TypeError(`a page limit must be a positive integer, not ${page.limit}`);
  return sql` limit ${page.limit}`;
}
