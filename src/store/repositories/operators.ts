/** Operators: people holding an operator token (stored as its hash). */
import { and, asc, eq, isNotNull, isNull, sql } from "drizzle-orm";
import type { OperatorRecord, PageRequest } from "../../domain.js";
import { BrokerError } from "../../errors.js";
import { afterKey, assignments, excluded, insertInto, pageLimit, whereAll } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { num, numOrNull, str } from "../sql/rows.js";
import type { StoreTables } from "../tables.js";

export interface OperatorRepository {
  create(operator: OperatorRecord & { tokenHash: string }): Promise<void>;
  byTokenHash(tokenHash: string): Promise<OperatorRecord | undefined>;
  list(page?: PageRequest<string>): Promise<OperatorRecord[]>;
  revoke(name: string, now: number): Promise<boolean>;
  countActive(): Promise<number>;
  byName(name: string): Promise<OperatorRecord | undefined>;
  replaceToken(name: string, tokenHash: string, expiresAt: number | null): Promise<boolean>;
}

function operatorFromRow(row: Row): OperatorRecord {
  return { name: str(row.name), role: str(row.role), createdAt: num(row.created_at), revokedAt: numOrNull(row.revoked_at), expiresAt: numOrNull(row.expires_at) };
}

export function operatorRepository(db: SqlExecutor, t: StoreTables): OperatorRepository {
  const o = t.operators;
  // Never the token hash: it only ever goes in, as a lookup key.
  const columns = sql`${o.name}, ${o.role}, ${o.createdAt}, ${o.revokedAt}, ${o.expiresAt}`;
  return {
    async create(operator) {
      // One statement: a revoked name is taken over, an active one is left alone and reported.
      const written = await db.all(
        sql`${insertInto(o, [operator])} on conflict (${sql.identifier(o.name.name)}) do update set ${assignments(o, {
          role: excluded(o.role),
          tokenHash: excluded(o.tokenHash),
          createdAt: excluded(o.createdAt),
          revokedAt: null,
          expiresAt: excluded(o.expiresAt),
        })} where ${isNotNull(o.revokedAt)} returning ${sql.identifier(o.name.name)}`,
      );
      if (written.length === 0) throw new BrokerError("conflict", `operator ${operator.name} already exists`);
    },
    async byTokenHash(tokenHash) {
      const row = await db.get(sql`select ${columns} from ${o} where ${eq(o.tokenHash, tokenHash)}`);
      return row && operatorFromRow(row);
    },
    async list(page) {
      return (await db.all(sql`select ${columns} from ${o}${whereAll(afterKey(o.name, page))} order by ${asc(o.name)}${pageLimit(page)}`)).map(operatorFromRow);
    },
    async revoke(name, now) {
      return (await db.run(sql`update ${o} set ${assignments(o, { revokedAt: now })} where ${and(eq(o.name, name), isNull(o.revokedAt))}`)) > 0;
    },
    async byName(name) {
      const row = await db.get(sql`select ${columns} from ${o} where ${eq(o.name, name)}`);
      return row && operatorFromRow(row);
    },
    async replaceToken(name, tokenHash, expiresAt) {
      // One statement: the old hash stops naming the operator the moment the new one does.
      return (await db.run(sql`update ${o} set ${assignments(o, { tokenHash, expiresAt })} where ${and(eq(o.name, name), isNull(o.revokedAt))}`)) > 0;
    },
    async countActive() {
      const row = await db.get(sql`select count(*) as n from ${o} where ${isNull(o.revokedAt)}`);
      return row ? num(row.n) : 0;
    },
  };
}
