/** The drizzle schema, the SQLite migration and the PostgreSQL migration describe the same tables. */
import { getTableConfig } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { readMigrations } from "../src/store/migrate.js";
import * as schema from "../src/store/schema.sqlite.js";
import { openSqliteStore } from "../src/store/sqlite.js";

const tables = Object.values(schema).map((table) => getTableConfig(table));

/** Table → column names, from the CREATE TABLE and ALTER TABLE ... ADD COLUMN statements. */
function columnsInSql(sql: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const match of sql.matchAll(/CREATE TABLE (\w+) \(([\s\S]*?)\n\);/g)) {
    const columns = match[2]!
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("--") && !/^(PRIMARY KEY|UNIQUE|CHECK|FOREIGN)/.test(line))
      .map((line) => line.split(/\s+/)[0]!);
    out.set(match[1]!, columns);
  }
  for (const match of sql.matchAll(/ALTER TABLE (\w+) ADD COLUMN (\w+)/g)) out.get(match[1]!)?.push(match[2]!);
  return out;
}

describe("store schema", () => {
  it.each(["sqlite", "postgres"] as const)("the %s migrations create exactly the drizzle tables and columns", (dialect) => {
    const sql = columnsInSql(readMigrations(dialect).map((m) => m.sql).join("\n"));
    expect([...sql.keys()].sort()).toEqual(tables.map((t) => t.name).sort());
    for (const table of tables) expect(sql.get(table.name)?.sort()).toEqual(table.columns.map((c) => c.name).sort());
  });

  it("applies migrations once and records them", () => {
    const store = openSqliteStore({ file: ":memory:", migrate: false });
    expect(store.migrate()).toEqual(readMigrations("sqlite").map((m) => m.name));
    expect(store.migrate()).toEqual([]);
    void store.close();
  });
});
