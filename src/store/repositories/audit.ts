/**
 * The audit log: appending chained records (audit/chain.ts) inside a transaction, and the queries.
 * How an append is serialised between writers is the dialect's (`lockChain`); SQLite's broker
 * process appends through its committer thread instead (sqlite-committer.ts).
 */
import { and, asc, desc, eq, gt, gte, lt, lte, or, sql, type SQL } from "drizzle-orm";
import { extendChain, type ChainHead, type ChainKey } from "../../audit/chain.js";
import type { AuditEntry, AuditRecord, Lease } from "../../domain.js";
import { allColumns, assignments, excluded, insertInto, startsWith } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { num, numOrNull, oneOf, str, strOrNull } from "../sql/rows.js";
import type { AccessSummaryRow, AuditFilter } from "../store.js";
import type { StoreTables } from "../tables.js";
import type { LeaseRepository } from "./leases.js";

/** Records per multi-row INSERT: well below PostgreSQL's 65535 bind parameters at 15 columns. */
const INSERT_CHUNK = 1000;

export interface AuditRepository {
  /** Chains `entries` with `key` onto the head and inserts them with `leases`, in one transaction. */
  append(key: ChainKey, entries: AuditEntry[], leases: Lease[]): Promise<AuditRecord[]>;
  /** Deletes the records up to `throughSeq` and stores the archive anchor row, in one transaction; returns how many were deleted. */
  archiveThrough(throughSeq: number, anchor: { key: string; value: string }): Promise<number>;
  query(filter: AuditFilter): Promise<AuditRecord[]>;
  accessSummary(resource: string, since: number | undefined): Promise<AccessSummaryRow[]>;
}

export function auditRecordFromRow(row: Row): AuditRecord {
  return {
    seq: num(row.seq),
    time: num(row.time),
    actor: str(row.actor),
    actorKind: oneOf(row.actor_kind, ["server", "operator", "system", "anonymous"]),
    action: str(row.action),
    resource: str(row.resource),
    outcome: oneOf(row.outcome, ["allowed", "denied", "error"]),
    reason: str(row.reason),
    leaseId: strOrNull(row.lease_id),
    version: numOrNull(row.version),
    requestId: strOrNull(row.request_id),
    sourceIp: strOrNull(row.source_ip),
    tokenRef: strOrNull(row.token_ref),
    prevHash: str(row.prev_hash),
    hash: str(row.hash),
  };
}

export interface AuditRepositoryOptions {
  /** Inside the append's transaction, before the head is read: keeps every other writer off the chain until commit. */
  lockChain(tx: SqlExecutor): Promise<void>;
}

export function auditRepository(db: SqlExecutor, t: StoreTables, leases: LeaseRepository, options: AuditRepositoryOptions): AuditRepository {
  const e = t.auditEvents;
  return {
    append(key, entries, newLeases) {
      return db.transaction(async (tx) => {
        await leases.insert(newLeases, tx);
        await options.lockChain(tx);
        const last = await tx.get(sql`select ${e.seq}, ${e.hash} from ${e} order by ${desc(e.seq)} limit 1`);
        const head: ChainHead | undefined = last && { seq: num(last.seq), hash: str(last.hash) };
        const records = extendChain(key, head, entries);
        for (let start = 0; start < records.length; start += INSERT_CHUNK) {
          await tx.run(insertInto(e, records.slice(start, start + INSERT_CHUNK).map((record) => ({ ...record }))));
        }
        return records;
      });
    },
    archiveThrough(throughSeq, anchor) {
      return db.transaction(async (tx) => {
        await options.lockChain(tx);
        const deleted = await tx.all(sql`delete from ${e} where ${lte(e.seq, throughSeq)} returning ${e.seq}`);
        const m = t.brokerMeta;
        await tx.run(sql`${insertInto(m, [anchor])} on conflict (${sql.identifier(m.key.name)}) do update set ${assignments(m, { value: excluded(m.value) })}`);
        return deleted.length;
      });
    },
    async query(filter) {
      const conditions: SQL[] = [];
      if (filter.actor !== undefined) conditions.push(eq(e.actor, filter.actor));
      if (filter.resource !== undefined) conditions.push(eq(e.resource, filter.resource));
      if (filter.resourcePrefix !== undefined) conditions.push(startsWith(e.resource, filter.resourcePrefix));
      if (filter.action !== undefined) conditions.push(eq(e.action, filter.action));
      if (filter.outcome !== undefined) conditions.push(eq(e.outcome, filter.outcome));
      if (filter.since !== undefined) conditions.push(gte(e.time, filter.since));
      if (filter.until !== undefined) conditions.push(lte(e.time, filter.until));
      if (filter.afterSeq !== undefined) conditions.push(gt(e.seq, filter.afterSeq));
      if (filter.beforeSeq !== undefined) conditions.push(lt(e.seq, filter.beforeSeq));
      const where = conditions.length > 0 ? sql` where ${and(...conditions)}` : sql``;
      const order = filter.order === "desc" ? desc(e.seq) : asc(e.seq);
      const rows = await db.all(sql`select ${allColumns(e)} from ${e}${where} order by ${order} limit ${filter.limit}`);
      return rows.map(auditRecordFromRow);
    },
    async accessSummary(resource, since) {
      const conditions: SQL[] = [
        or(eq(e.resource, resource), startsWith(e.resource, `${resource}#`)) ?? eq(e.resource, resource),
        or(eq(e.action, "secret.read"), eq(e.action, "secret.get")) ?? eq(e.action, "secret.read"),
      ];
      if (since !== undefined) conditions.push(gte(e.time, since));
      const outcomeCount = (outcome: string) => sql`sum(case when ${e.outcome} = ${outcome} then 1 else 0 end)`;
      const rows = await db.all(
        sql`select ${e.actor}, ${e.actorKind}, count(*) as n, min(${e.time}) as first, max(${e.time}) as last,
          ${outcomeCount("allowed")} as allowed, ${outcomeCount("denied")} as denied, ${outcomeCount("error")} as error
          from ${e} where ${and(...conditions)} group by ${e.actor}, ${e.actorKind} order by ${asc(e.actor)}, ${asc(e.actorKind)}`,
      );
      return rows.map((row) => ({
        actor: str(row.actor),
        actorKind: str(row.actor_kind),
        count: num(row.n),
        first: num(row.first),
        last: num(row.last),
        allowed: num(row.allowed),
        denied: num(row.denied),
        error: num(row.error),
      }));
    },
  };
}
