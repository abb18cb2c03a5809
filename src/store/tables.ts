/**
 * The tables as the shared repositories see them: the same table and column names in both
 * dialects. Each dialect passes its own drizzle schema (schema.sqlite.ts, schema.postgres.ts), so
 * a query renders with that dialect's identifiers, placeholders and column encoders. The two
 * assignments below do not compile unless both schemas have every table and column the
 * repositories use; test/store-schema.test.ts holds both schemas to the migrations.
 */
import type { Column, Table } from "drizzle-orm";
import * as postgresSchema from "./schema.postgres.js";
import * as sqliteSchema from "./schema.sqlite.js";

type ColumnsOf<T extends Table> = { [K in keyof T["_"]["columns"]]: Column };

export type StoreTables = { [K in keyof typeof sqliteSchema]: Table & ColumnsOf<(typeof sqliteSchema)[K]> };

export const sqliteTables: StoreTables = sqliteSchema;
export const postgresTables: StoreTables = postgresSchema;
