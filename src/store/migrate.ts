/** Applies the SQL files of migrations/<dialect>/ in name order, each once, recording them in schema_migrations. */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** migrations/ sits two levels above this file both in src/store and in dist/store. */
export const migrationsRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../migrations");

export interface Migration {
  name: string;
  sql: string;
}

export function readMigrations(dialect: "sqlite" | "postgres"): Migration[] {
  const dir = join(migrationsRoot, dialect);
  return readdirSync(dir)
    .filter((file) => file.endsWith(".sql"))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), "utf8") }));
}
