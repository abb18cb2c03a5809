/**
 * The rate-counter cleanup job: deletes throttling counters in the shared database that no longer
 * change any answer, so the tables hold the sources seen lately rather than every address that
 * ever called. A bucket untouched for longer than its longest refill is full again, the same as a
 * missing one; a failure row whose lockout and counting window have both passed counts nothing.
 * Idempotent, in bounded batches, on one broker at a time (the runner's lock).
 */
import { setImmediate as yieldToRequests } from "node:timers/promises";
import type { Store } from "../store/store.js";
import type { Job } from "./runner.js";

export interface RateCounterCleanupOptions {
  /** How long a bucket may sit untouched before it is deleted, ms: at least the longest time any budget takes to refill. */
  idleMs: number;
  /** The failure-counting window, ms (`rate_limit.failure_window`). */
  failureWindowMs: number;
  /** Time between runs, ms. */
  intervalMs: number;
  /** Rows of each table deleted per statement (default 500). */
  batchSize?: number;
}

export const RATE_COUNTER_CLEANUP_JOB = "rate_counter_cleanup";

export function rateCounterCleanupJob(deps: { store: Pick<Store, "forgetIdleRateCounters"> }, options: RateCounterCleanupOptions): Job {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError("batchSize must be a positive integer");
  if (!(options.idleMs > 0) || !(options.failureWindowMs > 0)) throw new TypeError("idleMs and failureWindowMs must be positive");
  return {
    name: RATE_COUNTER_CLEANUP_JOB,
    intervalMs: options.intervalMs,
    async run({ now, signal }) {
      const at = now();
      let deleted = 0;
      while (!signal.aborted) {
        const batch = await deps.store.forgetIdleRateCounters(at - options.idleMs, at - options.failureWindowMs, batchSize);
        deleted += batch;
        if (batch < batchSize) break;
        await yieldToRequests();
      }
      return { deleted };
    },
  };
}
