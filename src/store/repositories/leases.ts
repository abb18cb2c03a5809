/** Leases: a server's time-limited hold on a secret version. */
import { and, asc, eq, gt, isNotNull, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { Lease, LeaseSortKey, PageRequest } from "../../domain.js";
import { allColumns, assignments, insertInto, pageLimit, startsWith, whereAll } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { bool, num, numOrNull, str, strOrNull } from "../sql/rows.js";
import type { LeaseFilter, LeaseRevocation } from "../store.js";
import type { StoreTables } from "../tables.js";

/** Rows per multi-row INSERT: well below PostgreSQL's 65535 bind parameters at 11 columns. */
const INSERT_CHUNK = 1000;

export interface LeaseRepository {
  insert(leases: Lease[], db?: SqlExecutor): Promise<void>;
  get(id: string): Promise<Lease | undefined>;
  list(filter: LeaseFilter, page?: PageRequest<LeaseSortKey>): Promise<Lease[]>;
  extend(id: string, expiresAt: number): Promise<boolean>;
  revoke(filter: LeaseRevocation, now: number, reason: string): Promise<Lease[]>;
  countActive(now: number): Promise<number>;
  purgeEnded(endedBefore: number, limit: number): Promise<number>;
}

export function leaseFromRow(row: Row): Lease {
  return {
    id: str(row.id),
    serverId: str(row.server_id),
    secretPath: str(row.secret_path),
    version: num(row.version),
    issuedAt: num(row.issued_at),
    expiresAt: num(row.expires_at),
    maxExpiresAt: num(row.max_expires_at),
    renewable: bool(row.renewable),
    revokedAt: numOrNull(row.revoked_at),
    revokeReason: strOrNull(row.revoke_reason),
    externalLeaseId: strOrNull(row.external_lease_id),
  };
}

/** True when the revocation names at least one of id, server or secret (an empty one would revoke everything). */
export function isLeaseRevocation(filter: LeaseRevocation): boolean {
  return filter.id !== undefined || filter.serverId !== undefined || filter.secretPath !== undefined;
}

export function leaseRepository(db: SqlExecutor, t: StoreTables): LeaseRepository {
  const l = t.leases;
  return {
    async insert(leases, within = db) {
      for (let start = 0; start < leases.length; start += INSERT_CHUNK) {
        await within.run(insertInto(l, leases.slice(start, start + INSERT_CHUNK).map((lease) => ({ ...lease }))));
      }
    },
    async get(id) {
      const row = await db.get(sql`select ${allColumns(l)} from ${l} where ${eq(l.id, id)}`);
      return row && leaseFromRow(row);
    },
    async list(filter, page) {
      const conditions: SQL[] = [];
      if (filter.serverId !== undefined) conditions.push(eq(l.serverId, filter.serverId));
      if (filter.secretPath !== undefined) conditions.push(eq(l.secretPath, filter.secretPath));
      if (filter.activeAt !== undefined) conditions.push(isNull(l.revokedAt), gt(l.expiresAt, filter.activeAt));
      // Keyset: a row comparison both dialects evaluate, and answer from the (…, issued_at, id) indexes of migration 0005.
      if (page?.after !== undefined) conditions.push(sql`(${l.issuedAt}, ${l.id}) > (${page.after.issuedAt}, ${page.after.id})`);
      const rows = await db.all(sql`select ${allColumns(l)} from ${l}${whereAll(...conditions)} order by ${asc(l.issuedAt)}, ${asc(l.id)}${pageLimit(page)}`);
      return rows.map(leaseFromRow);
    },
    async extend(id, expiresAt) {
      return (await db.run(sql`update ${l} set ${assignments(l, { expiresAt })} where ${and(eq(l.id, id), isNull(l.revokedAt))}`)) > 0;
    },
    async revoke(filter, now, reason) {
      if (!isLeaseRevocation(filter)) throw new TypeError("revokeLeases needs at least one filter");
      const conditions: SQL[] = [isNull(l.revokedAt), gt(l.expiresAt, now)];
      if (filter.id !== undefined) conditions.push(eq(l.id, filter.id));
      if (filter.serverId !== undefined) conditions.push(eq(l.serverId, filter.serverId));
      if (filter.secretPath !== undefined) {
        // Revoking a secret also revokes leases of its `#key` selections.
        const whole = eq(l.secretPath, filter.secretPath);
        conditions.push(or(whole, startsWith(l.secretPath, `${filter.secretPath}#`)) ?? whole);
      }
      const rows = await db.all(sql`update ${l} set ${assignments(l, { revokedAt: now, revokeReason: reason })} where ${and(...conditions)} returning *`);
      return rows.map(leaseFromRow).sort((a, b) => a.issuedAt - b.issuedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    async countActive(now) {
      const row = await db.get(sql`select count(*) as n from ${l} where ${and(isNull(l.revokedAt), gt(l.expiresAt, now))}`);
      return row ? num(row.n) : 0;
    },
    async purgeEnded(endedBefore, limit) {
      // A lease ends when it expires or, earlier, when it is revoked (only an unexpired lease can
      // be revoked): either time before the cutoff means it ended before. Each side has an index.
      const ended = or(lt(l.expiresAt, endedBefore), lt(l.revokedAt, endedBefore));
      // A dynamic credential that expired unrevoked may still live in its backend (its lease there
      // can be longer): its row keeps the backend lease id until a revocation has run.
      const forgettable = or(isNull(l.externalLeaseId), isNotNull(l.revokedAt));
      const batch = sql`select ${l.id} from ${l} where ${and(ended, forgettable)}${pageLimit({ limit })}`;
      return db.run(sql`delete from ${l} where ${l.id} in (${batch})`);
    },
  };
}
