/**
 * Throttling counters in the database, shared by every broker on it: token buckets and failure
 * counts with their lockouts (the broker's use: src/auth/shared-counters.ts). Each change is one
 * atomic upsert, so brokers taking from one bucket at once never both spend its last token.
 * Times are epoch milliseconds from the caller.
 */
import { eq, sql } from "drizzle-orm";
import { insertInto } from "../sql/build.js";
import type { SqlExecutor } from "../sql/executor.js";
import { num } from "../sql/rows.js";
import type { StoreTables } from "../tables.js";

/** A bucket's refill rate (tokens per second) and size. */
export interface BucketShape {
  ratePerSecond: number;
  burst: number;
}

/** How failures lead to a lockout. */
export interface FailurePolicy {
  maxFailures: number;
  failureWindowSeconds: number;
  lockoutSeconds: number;
}

export interface RateLimitRepository {
  /**
   * Takes `cost` (at most `burst`) tokens from `key`'s bucket as refilled at `now`; true when they
   * were there and are now taken, false when not (the bucket is then left as it was). A missing
   * bucket starts full. A `now` behind the bucket's last update refills nothing.
   */
  take(key: string, shape: BucketShape, cost: number, now: number): Promise<boolean>;
  /** The bucket as stored (tokens as of `updatedAt`), undefined when there is none. */
  bucket(key: string): Promise<{ tokens: number; updatedAt: number } | undefined>;
  /** When `key`'s lockout ends (epoch ms); 0 when it was never locked out. */
  lockedUntil(key: string): Promise<number>;
  /** Counts a failure; the one that reaches `maxFailures` within the window locks out until `now + lockout`, and counting starts again. */
  recordFailure(key: string, policy: FailurePolicy, now: number): Promise<void>;
  /** Forgets `key`'s failures. */
  clearFailures(key: string): Promise<void>;
}

export function rateLimitRepository(db: SqlExecutor, t: StoreTables): RateLimitRepository {
  const b = t.rateLimitBuckets;
  const f = t.authFailures;
  const column = (name: string) => sql.identifier(name);
  return {
    async take(key, shape, cost, now) {
      const needed = Math.min(cost, shape.burst);
      // In DO UPDATE, the table-qualified names (b.tokens) are the stored row's, in both
      // dialects. The casts keep PostgreSQL from typing a fractional rate as a bigint.
      const tokens = b.tokens;
      const updatedAt = b.updatedAt;
      const at = sql`cast(${now} as bigint)`;
      const rate = sql`cast(${shape.ratePerSecond} as double precision)`;
      const burst = sql`cast(${shape.burst} as double precision)`;
      const elapsed = sql`(case when ${at} > ${updatedAt} then ${at} - ${updatedAt} else 0 end)`;
      const grown = sql`(${tokens} + ${elapsed} * ${rate} / 1000.0)`;
      const refilled = sql`(case when ${grown} > ${burst} then ${burst} else ${grown} end)`;
      const taken = await db.all(
        sql`${insertInto(b, [{ key, tokens: shape.burst - needed, updatedAt: now }])}
          on conflict (${column(b.key.name)}) do update set ${column(b.tokens.name)} = ${refilled} - ${needed}, ${column(b.updatedAt.name)} = case when ${at} > ${updatedAt} then ${at} else ${updatedAt} end
          where ${refilled} >= ${needed}
          returning ${column(b.key.name)}`,
      );
      return taken.length > 0;
    },
    async bucket(key) {
      const row = await db.get(sql`select ${b.tokens}, ${b.updatedAt} from ${b} where ${eq(b.key, key)}`);
      return row && { tokens: num(row.tokens), updatedAt: num(row.updated_at) };
    },
    async lockedUntil(key) {
      const row = await db.get(sql`select ${f.lockedUntil} from ${f} where ${eq(f.key, key)}`);
      return row ? num(row.locked_until) : 0;
    },
    async recordFailure(key, policy, now) {
      const failures = f.failures;
      const windowStartedAt = f.windowStartedAt;
      const lockedUntil = f.lockedUntil;
      const at = sql`cast(${now} as bigint)`;
      const windowOver = sql`(${at} - ${windowStartedAt} > ${policy.failureWindowSeconds * 1000})`;
      const count = sql`(case when ${windowOver} then 1 else ${failures} + 1 end)`;
      const reached = sql`(${count} >= ${policy.maxFailures})`;
      const lockEnd = now + policy.lockoutSeconds * 1000;
      const first = policy.maxFailures <= 1;
      await db.run(
        sql`${insertInto(f, [{ key, failures: first ? 0 : 1, windowStartedAt: now, lockedUntil: first ? lockEnd : 0 }])}
          on conflict (${column(f.key.name)}) do update set
            ${column(f.failures.name)} = case when ${reached} then 0 else ${count} end,
            ${column(f.windowStartedAt.name)} = case when ${reached} or ${windowOver} then ${at} else ${windowStartedAt} end,
            ${column(f.lockedUntil.name)} = case when ${reached} then cast(${lockEnd} as bigint) else ${lockedUntil} end`,
      );
    },
    async clearFailures(key) {
      await db.run(sql`delete from ${f} where ${eq(f.key, key)}`);
    },
  };
}
