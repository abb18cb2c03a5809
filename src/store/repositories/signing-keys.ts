/** The broker's token-signing keys (private halves sealed under the master key). */
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { allColumns, assignments, insertInto } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { bytes, num, numOrNull, str } from "../sql/rows.js";
import type { SigningKeyRow } from "../store.js";
import type { StoreTables } from "../tables.js";

export interface SigningKeyRepository {
  insert(row: SigningKeyRow): Promise<void>;
  list(): Promise<SigningKeyRow[]>;
  retire(kid: string, retiredAt: number, expiresAt: number): Promise<void>;
  rewrap(kid: string, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean>;
}

function signingKeyFromRow(row: Row): SigningKeyRow {
  return {
    kid: str(row.kid),
    publicJwk: str(row.public_jwk),
    keyId: str(row.key_id),
    wrappedKey: bytes(row.wrapped_key),
    privateJwkCiphertext: bytes(row.private_jwk_ciphertext),
    createdAt: num(row.created_at),
    retiredAt: numOrNull(row.retired_at),
    expiresAt: numOrNull(row.expires_at),
  };
}

export function signingKeyRepository(db: SqlExecutor, t: StoreTables): SigningKeyRepository {
  const k = t.signingKeys;
  return {
    async insert(row) {
      await db.run(insertInto(k, [{ ...row }]));
    },
    async list() {
      // Created in the same millisecond (a rotation under a frozen clock): the retired key first,
      // so the last unretired key, which signs, is the one that replaced it.
      const unretiredLast = sql`case when ${isNull(k.retiredAt)} then 1 else 0 end`;
      const rows = await db.all(sql`select ${allColumns(k)} from ${k} order by ${asc(k.createdAt)}, ${unretiredLast}, ${asc(k.kid)}`);
      return rows.map(signingKeyFromRow);
    },
    async retire(kid, retiredAt, expiresAt) {
      await db.run(sql`update ${k} set ${assignments(k, { retiredAt, expiresAt })} where ${and(eq(k.kid, kid), isNull(k.retiredAt))}`);
    },
    async rewrap(kid, expectedKeyId, keyId, wrappedKey) {
      return (await db.run(sql`update ${k} set ${assignments(k, { keyId, wrappedKey })} where ${and(eq(k.kid, kid), eq(k.keyId, expectedKeyId))}`)) > 0;
    },
  };
}
