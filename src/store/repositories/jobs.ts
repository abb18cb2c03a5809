/**
 * Background jobs' shared state (`job_locks`): the lock that lets exactly one broker run a job at a
 * time, and the record of its last run. Each call is one statement, so two brokers racing for a
 * lock serialise on the row: PostgreSQL re-checks the WHERE clause of an UPDATE that waited for
 * another's row lock, and SQLite runs one writer at a time.
 */
import { and, eq, isNull, lte, or, sql } from "drizzle-orm";
import type { JobOutcome, JobState } from "../../domain.js";
import { allColumns, assignments, insertInto } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { num, numOrNull, oneOf, str, strOrNull } from "../sql/rows.js";
import type { StoreTables } from "../tables.js";

export interface JobRepository {
  acquire(name: string, owner: string, now: number, lockedUntil: number): Promise<boolean>;
  renew(name: string, owner: string, now: number, lockedUntil: number): Promise<boolean>;
  finish(name: string, owner: string, now: number, outcome: JobOutcome, nextRunAt: number): Promise<boolean>;
  get(name: string): Promise<JobState | undefined>;
}

const OUTCOMES: readonly JobOutcome[] = ["ok", "error", "interrupted"];

function jobFromRow(row: Row): JobState {
  return {
    name: str(row.name),
    owner: strOrNull(row.owner),
    lockedUntil: numOrNull(row.locked_until),
    nextRunAt: num(row.next_run_at),
    lastStartedAt: numOrNull(row.last_started_at),
    lastFinishedAt: numOrNull(row.last_finished_at),
    lastOutcome: row.last_outcome === null ? null : oneOf(row.last_outcome, OUTCOMES),
  };
}

export function jobRepository(db: SqlExecutor, t: StoreTables): JobRepository {
  const j = t.jobLocks;
  return {
    async acquire(name, owner, now, lockedUntil) {
      // First use of the job on this database: a row that is due at once.
      await db.run(sql`${insertInto(j, [{ name, nextRunAt: 0 }])} on conflict do nothing`);
      const free = or(isNull(j.owner), isNull(j.lockedUntil), lte(j.lockedUntil, now));
      const taken = await db.run(
        sql`update ${j} set ${assignments(j, { owner, lockedUntil, lastStartedAt: now })} where ${and(eq(j.name, name), lte(j.nextRunAt, now), free)}`,
      );
      return taken > 0;
    },
    async renew(name, owner, now, lockedUntil) {
      const held = and(eq(j.name, name), eq(j.owner, owner), sql`${j.lockedUntil} > ${now}`);
      return (await db.run(sql`update ${j} set ${assignments(j, { lockedUntil })} where ${held}`)) > 0;
    },
    async finish(name, owner, now, outcome, nextRunAt) {
      const values = { owner: null, lockedUntil: null, lastFinishedAt: now, lastOutcome: outcome, nextRunAt };
      return (await db.run(sql`update ${j} set ${assignments(j, values)} where ${and(eq(j.name, name), eq(j.owner, owner))}`)) > 0;
    },
    async get(name) {
      const row = await db.get(sql`select ${allColumns(j)} from ${j} where ${eq(j.name, name)}`);
      return row && jobFromRow(row);
    },
  };
}
