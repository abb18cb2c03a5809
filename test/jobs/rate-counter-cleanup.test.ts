/**
 * The rate-counter cleanup job deletes what no longer changes an answer, on SQLite and PostgreSQL:
 * buckets idle past every refill (a missing bucket starts full, so nothing changes) and failure
 * rows whose lockout and window have passed; it keeps a running lockout and a counting window.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rateCounterCleanupJob } from "../../src/jobs/rate-counter-cleanup.js";
import { openPostgresStore } from "../../src/store/postgres.js";
import type { Store } from "../../src/store/store.js";
import { openTempStore } from "../helpers/temp-store.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const T0 = Date.parse("2026-12-04T12:00:00Z");
const MINUTE = 60_000;
const BUDGET = { ratePerSecond: 1, burst: 5 };
const LOCKOUT = { maxFailures: 2, failureWindowSeconds: 60, lockoutSeconds: 15 * 60 };

function cleanupContract(open: () => Promise<{ store: Store; close(): Promise<void> }>) {
  let store: Store;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store, close } = await open());
  });
  afterAll(() => close());

  const run = (now: number, batchSize?: number) =>
    rateCounterCleanupJob({ store }, { idleMs: 2 * MINUTE, failureWindowMs: MINUTE, intervalMs: 10 * MINUTE, ...(batchSize && { batchSize }) }).run({
      now: () => now,
      signal: new AbortController().signal,
    });

  it("deletes idle buckets and spent failure rows, keeps recent buckets, running lockouts and open windows", async () => {
    const now = T0 + 10 * MINUTE;
    await store.takeRateTokens("idle", BUDGET, 5, T0);
    await store.takeRateTokens("recent", BUDGET, 5, now - MINUTE);
    await store.recordAuthFailure("locked", LOCKOUT, now - 2 * MINUTE);
    await store.recordAuthFailure("locked", LOCKOUT, now - 2 * MINUTE); // locked out until now + 13 min
    await store.recordAuthFailure("spent", LOCKOUT, T0); // window over long ago, never locked
    await store.recordAuthFailure("counting", LOCKOUT, now - 10_000); // its window is still open

    expect(await run(now)).toEqual({ deleted: 2 });

    expect(await store.getRateBucket("idle")).toBeUndefined();
    expect(await store.getRateBucket("recent")).toMatchObject({ updatedAt: now - MINUTE });
    expect(await store.authLockedUntil("locked")).toBe(now - 2 * MINUTE + 15 * MINUTE);
    // The open window still counts: one more failure within it locks the key out.
    await store.recordAuthFailure("counting", LOCKOUT, now);
    expect(await store.authLockedUntil("counting")).toBe(now + 15 * MINUTE);
    // The deleted bucket answers as a full one would: the whole burst is there.
    expect(await store.takeRateTokens("idle", BUDGET, 5, now)).toBe(true);
    expect(await run(now)).toEqual({ deleted: 0 });
  });

  it("works through more rows than one batch, in batches", async () => {
    for (let index = 0; index < 7; index += 1) await store.takeRateTokens(`batch-${index}`, BUDGET, 1, T0 - MINUTE);
    expect(await run(T0 + 10 * MINUTE, 3)).toEqual({ deleted: 7 });
    for (let index = 0; index < 7; index += 1) expect(await store.getRateBucket(`batch-${index}`)).toBeUndefined();
  });
}

describe("rate-counter cleanup on SQLite", () => {
  cleanupContract(async () => {
    const temp = openTempStore("rate-cleanup");
    return { store: temp.store, close: () => temp.close() };
  });
});

describePostgres("rate-counter cleanup on PostgreSQL", () => {
  let schema: TestSchema;
  cleanupContract(async () => {
    schema = await createTestSchema("ratecleanup");
    const store = await openPostgresStore({ url: schema.url });
    return {
      store,
      close: async () => {
        await store.close();
        await schema.drop();
      },
    };
  });
});
