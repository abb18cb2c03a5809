/**
 * One contract for the throttling counters, run against each place the counts can live: this
 * process's memory, and the database (SQLite and PostgreSQL) through the shared counters. Same
 * budget, same lockout, same answers, with a frozen clock.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryCounters, type RateCounters } from "../../src/auth/rate-limit.js";
import { SharedCounters } from "../../src/auth/shared-counters.js";
import { openPostgresStore } from "../../src/store/postgres.js";
import type { Store } from "../../src/store/store.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const T0 = Date.parse("2026-12-04T12:00:00Z");
const BUDGET = { ratePerSecond: 2, burst: 3 };
const LOCKOUT = { maxFailures: 3, failureWindowSeconds: 60, lockoutSeconds: 600 };
const silent = { error: () => undefined };

function counterContract(name: string, open: () => Promise<{ counters: RateCounters; close(): Promise<void> }>) {
  describe(`rate counters: ${name}`, () => {
    let counters: RateCounters;
    let close: () => Promise<void>;
    let n = 0;
    const key = () => `${name}-${(n += 1)}`;
    beforeAll(async () => {
      ({ counters, close } = await open());
    });
    afterAll(() => close());

    it.each<[string, Array<[number, number, number]>]>([
      // [ms after T0, cost, expected wait seconds]
      ["a full bucket allows a burst, then refuses with the wait for one token", [[0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 1]]],
      ["it refills at the rate: half a second gives one token back", [[0, 3, 0], [0, 1, 1], [500, 1, 0], [500, 1, 1]]],
      ["a cost takes that many tokens; a refused take takes none", [[0, 2, 0], [0, 2, 1], [0, 1, 0], [0, 1, 1]]],
      ["a cost above the burst counts as the burst", [[0, 10, 0], [0, 1, 1], [1500, 10, 0]]],
      ["the refill stops at the burst", [[0, 3, 0], [60_000, 3, 0], [60_000, 1, 1]]],
      ["a clock behind the bucket's refills nothing and drains nothing", [[1000, 3, 0], [0, 1, 1], [1500, 1, 0]]],
    ])("%s", async (_title, steps) => {
      const bucket = key();
      const waits = [];
      for (const [at, cost] of steps) waits.push(await counters.take(bucket, BUDGET, cost, T0 + at));
      expect(waits).toEqual(steps.map(([, , wait]) => wait));
    });

    it("max_failures failures within the window lock out for the lockout, then counting starts again", async () => {
      const k = key();
      await counters.recordFailure(k, LOCKOUT, T0);
      await counters.recordFailure(k, LOCKOUT, T0 + 1000);
      expect(await counters.lockedFor(k, T0 + 1000)).toBe(0);
      await counters.recordFailure(k, LOCKOUT, T0 + 2000);
      expect(await counters.lockedFor(k, T0 + 2000)).toBe(600);
      expect(await counters.lockedFor(k, T0 + 2000 + 599_500)).toBe(1);
      expect(await counters.lockedFor(k, T0 + 2000 + 600_000)).toBe(0);
      // The lockout reset the count: one more failure does not lock again.
      await counters.recordFailure(k, LOCKOUT, T0 + 700_000);
      expect(await counters.lockedFor(k, T0 + 700_000)).toBe(0);
    });

    it("failures spread wider than the window never lock; a success forgets the count", async () => {
      const spread = key();
      for (const at of [0, 61_000, 122_000, 183_000]) await counters.recordFailure(spread, LOCKOUT, T0 + at);
      expect(await counters.lockedFor(spread, T0 + 183_000)).toBe(0);
      const forgiven = key();
      await counters.recordFailure(forgiven, LOCKOUT, T0);
      await counters.recordFailure(forgiven, LOCKOUT, T0);
      await counters.recordSuccess(forgiven);
      await counters.recordFailure(forgiven, LOCKOUT, T0);
      expect(await counters.lockedFor(forgiven, T0)).toBe(0);
      expect(await counters.lockedFor(key(), T0)).toBe(0);
    });
  });
}

counterContract("memory", async () => ({ counters: new MemoryCounters(), close: async () => undefined }));

counterContract("SQLite", async () => {
  const temp: TempStore = openTempStore("rate-counters");
  return { counters: new SharedCounters(temp.store, silent), close: () => temp.close() };
});

describePostgres("rate counters on PostgreSQL", () => {
  let schema: TestSchema;
  let store: Store;
  beforeAll(async () => {
    schema = await createTestSchema("counters");
    store = await openPostgresStore({ url: schema.url });
  });
  afterAll(async () => {
    await store?.close();
    await schema?.drop();
  });
  counterContract("PostgreSQL", async () => ({ counters: new SharedCounters(store, silent), close: async () => undefined }));
});
