/** Broker metadata: small named values (initialisation state, sealed keys). */
import { eq, sql } from "drizzle-orm";
import { assignments, excluded, insertInto } from "../sql/build.js";
import type { SqlExecutor } from "../sql/executor.js";
import { str } from "../sql/rows.js";
import type { StoreTables } from "../tables.js";

export interface MetaRepository {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  setIfAbsent(key: string, value: string): Promise<boolean>;
}

export function metaRepository(db: SqlExecutor, t: StoreTables): MetaRepository {
  const m = t.brokerMeta;
  return {
    async get(key) {
      const row = await db.get(sql`select ${m.value} from ${m} where ${eq(m.key, key)}`);
      return row && str(row.value);
    },
    async set(key, value) {
      await db.run(sql`${insertInto(m, [{ key, value }])} on conflict (${sql.identifier(m.key.name)}) do update set ${assignments(m, { value: excluded(m.value) })}`);
    },
    async setIfAbsent(key, value) {
      return (await db.all(sql`${insertInto(m, [{ key, value }])} on conflict do nothing returning ${sql.identifier(m.key.name)}`)).length > 0;
    },
  };
}
