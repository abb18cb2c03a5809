/** The drizzle schemas, the SQLite migrations and the PostgreSQL migrations describe the same tables. */
import { getTableConfig as getPgTableConfig } from "drizzle-orm/pg-core";
import { getTableConfig } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { readMigrations } from "../src/store/migrate.js";
import * as pgSchema from "../src/store/schema.postgres.js";
import * as schema from "../src/store/schema.sqlite.js";
import { openSqliteStore } from "../src/store/sqlite.js";

const tables = Object.values(schema).map((table) => getTableConfig(table));
const pgTables = Object.values(pgSchema).map((table) => getPgTableConfig(table));

/** Table → column definitions (`name type [not null]`), from the CREATE TABLE and ALTER TABLE ... ADD COLUMN statements. */
function columnsInSql(sql: string): Map<string, string[]> {
  const describe = (definition: string): string => {
    const [name, type] = definition.replace(/,$/, "").split(/\s+/);
    const notNull = /\bNOT NULL\b|\bPRIMARY KEY\b/i.test(definition);
    return `${name} ${type?.toLowerCase()}${notNull ? " not null" : ""}`;
  };
  const out = new Map<string, string[]>();
  for (const match of sql.matchAll(/CREATE TABLE (\w+) \(([\s\S]*?)\n\);/g)) {
    const columns = match[2]!
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("--") && !/^(PRIMARY KEY|UNIQUE|CHECK|FOREIGN)/.test(line))
      .map(describe);
    out.set(match[1]!, columns);
  }
  for (const match of sql.matchAll(/ALTER TABLE (\w+) ADD COLUMN ([^;]+);/g)) out.get(match[1]!)?.push(describe(match[2]!.trim()));
  return out;
}

const names = (columns: string[] | undefined) => columns?.map((column) => column.split(" ")[0]).sort();

describe("store schema", () => {
  it.each(["sqlite", "postgres"] as const)("the %s migrations create exactly the drizzle tables and columns", (dialect) => {
    const sql = columnsInSql(readMigrations(dialect).map((m) => m.sql).join("\n"));
    expect([...sql.keys()].sort()).toEqual(tables.map((t) => t.name).sort());
    for (const table of tables) expect(names(sql.get(table.name))).toEqual(table.columns.map((c) => c.name).sort());
  });

  it("the PostgreSQL drizzle schema matches migrations/postgres: tables, columns, types and NOT NULL", () => {
    const sql = columnsInSql(readMigrations("postgres").map((m) => m.sql).join("\n"));
    expect([...sql.keys()].sort()).toEqual(pgTables.map((t) => t.name).sort());
    for (const table of pgTables) {
      const drizzleColumns = table.columns.map((c) => `${c.name} ${c.getSQLType()}${c.notNull ? " not null" : ""}`).sort();
      expect(sql.get(table.name)?.sort(), table.name).toEqual(drizzleColumns);
    }
  });

  it("applies migrations once and records them", () => {
    const store = openSqliteStore({ file: ":memory:", migrate: false });
    expect(store.migrate()).toEqual(readMigrations("sqlite").map((m) => m.name));
    expect(store.migrate()).toEqual([]);
    void store.close();
  });
});
