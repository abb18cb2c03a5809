/** Client-assertion ids seen (private_key_jwt `jti`), to refuse a replay until the assertion expires. */
import { lte, sql } from "drizzle-orm";
import { insertInto } from "../sql/build.js";
import type { SqlExecutor } from "../sql/executor.js";
import type { StoreTables } from "../tables.js";

export interface AssertionRepository {
  remember(id: string, expiresAt: number, now: number): Promise<boolean>;
}

export function assertionRepository(db: SqlExecutor, t: StoreTables): AssertionRepository {
  const a = t.usedAssertions;
  return {
    remember(id, expiresAt, now) {
      return db.transaction(async (tx) => {
        await tx.run(sql`delete from ${a} where ${lte(a.expiresAt, now)}`);
        // Two brokers seeing the same id at once: the second insert waits for the first to
        // commit, then does nothing, so exactly one of them accepts it.
        const inserted = await tx.all(sql`${insertInto(a, [{ id, expiresAt }])} on conflict do nothing returning ${sql.identifier(a.id.name)}`);
        return inserted.length > 0;
      });
    },
  };
}
