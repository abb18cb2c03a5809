/**
 * Rotations and their pending values (`rotations`, `rotation_pending_values`). Every write that
 * moves a rotation on names the broker holding it (`owner`) in its WHERE clause, so a broker
 * whose hold was taken over (it stalled past its lease) cannot record anything more: its update
 * touches no row and it stops. One statement each, except `end`, which drops the pending value
 * in the same transaction as it ends the rotation.
 */
import { and, asc, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import { ROTATION_STATES, ROTATION_STEPS, type RotationRecord, type RotationStep } from "../../domain.js";
import { allColumns, assignments, insertInto, whereAll } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { bytes, num, numOrNull, oneOf, str, strOrNull } from "../sql/rows.js";
import type { PendingValueRow, RotationEnd, RotationFilter } from "../store.js";
import type { StoreTables } from "../tables.js";

export interface RotationRepository {
  insert(rotation: RotationRecord): Promise<void>;
  get(id: string): Promise<RotationRecord | undefined>;
  list(filter: RotationFilter): Promise<RotationRecord[]>;
  claim(id: string, owner: string, now: number, leaseUntil: number): Promise<boolean>;
  recordStep(id: string, owner: string, step: RotationStep, stepState: string, now: number, leaseUntil: number): Promise<boolean>;
  end(id: string, owner: string, end: RotationEnd): Promise<boolean>;
  keepPending(row: PendingValueRow): Promise<void>;
  pending(rotationId: string): Promise<PendingValueRow | undefined>;
}

function rotationFromRow(row: Row): RotationRecord {
  return {
    id: str(row.id),
    secretPath: str(row.secret_path),
    strategy: str(row.strategy),
    ruleRef: str(row.rule_ref),
    state: oneOf(row.state, ROTATION_STATES),
    lastStep: row.last_step === null ? null : oneOf(row.last_step, ROTATION_STEPS),
    stepState: str(row.step_state),
    attempt: num(row.attempt),
    errorCode: strOrNull(row.error_code),
    version: numOrNull(row.version),
    owner: strOrNull(row.owner),
    leaseUntil: numOrNull(row.lease_until),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    endedAt: numOrNull(row.ended_at),
  };
}

export function rotationRepository(db: SqlExecutor, t: StoreTables): RotationRepository {
  const r = t.rotations;
  const p = t.rotationPendingValues;
  const heldBy = (id: string, owner: string) => and(eq(r.id, id), eq(r.owner, owner), eq(r.state, "running"));
  return {
    async insert(rotation) {
      await db.run(insertInto(r, [rotation]));
    },
    async get(id) {
      const row = await db.get(sql`select ${allColumns(r)} from ${r} where ${eq(r.id, id)}`);
      return row && rotationFromRow(row);
    },
    async list(filter) {
      const rows = await db.all(
        sql`select ${allColumns(r)} from ${r}${whereAll(
          filter.secretPath === undefined ? undefined : eq(r.secretPath, filter.secretPath),
          filter.states === undefined ? undefined : inArray(r.state, [...filter.states]),
        )} order by ${asc(r.createdAt)}, ${asc(r.id)}`,
      );
      return rows.map(rotationFromRow);
    },
    async claim(id, owner, now, leaseUntil) {
      // A pending rotation, or a running one whose holder's lease has passed (it died or stalled).
      const free = or(eq(r.state, "pending"), and(eq(r.state, "running"), or(isNull(r.leaseUntil), lte(r.leaseUntil, now))));
      const taken = await db.run(sql`update ${r} set ${assignments(r, { state: "running", owner, leaseUntil, updatedAt: now })} where ${and(eq(r.id, id), free)}`);
      return taken > 0;
    },
    async recordStep(id, owner, step, stepState, now, leaseUntil) {
      const values = { lastStep: step, stepState, leaseUntil, updatedAt: now };
      return (await db.run(sql`update ${r} set ${assignments(r, values)} where ${heldBy(id, owner)}`)) > 0;
    },
    end(id, owner, end) {
      return db.transaction(async (tx) => {
        const values = { state: end.state, errorCode: end.errorCode, version: end.version, owner: null, leaseUntil: null, updatedAt: end.now, endedAt: end.now };
        const ended = (await tx.run(sql`update ${r} set ${assignments(r, values)} where ${heldBy(id, owner)}`)) > 0;
        if (ended && !end.keepPending) await tx.run(sql`delete from ${p} where ${eq(p.rotationId, id)}`);
        return ended;
      });
    },
    async keepPending(row) {
      // The first write wins: a create run again after a crash keeps the first value.
      await db.run(sql`${insertInto(p, [row])} on conflict do nothing`);
    },
    async pending(rotationId) {
      const row = await db.get(sql`select ${allColumns(p)} from ${p} where ${eq(p.rotationId, rotationId)}`);
      return row && { rotationId: str(row.rotation_id), keyId: str(row.key_id), wrappedKey: bytes(row.wrapped_key), ciphertext: bytes(row.ciphertext), createdAt: num(row.created_at) };
    },
  };
}
