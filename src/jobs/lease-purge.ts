/**
 * The lease purge job: deletes leases that ended (expired, or were revoked) more than the retention
 * period ago, so the lease table holds what is active plus a bounded history, however many reads
 * the broker serves. Deletes in batches, yielding to requests between them, and stops between two
 * batches when the runner asks (shutdown, lost lock). Idempotent: a run cut short is finished by
 * the next one, on whichever broker runs it.
 */
import { setImmediate as yieldToRequests } from "node:timers/promises";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";
import type { Job } from "./runner.js";

export interface LeasePurgeOptions {
  /** An ended lease is kept this long after it ended, ms (`lease.retention`). */
  retentionMs: number;
  /** Time between runs, ms (`lease.purge_interval`). */
  intervalMs: number;
  /**
   * Leases deleted per statement (default 500). Each batch is one short write transaction:
   * `npm run bench:purge` measures how long one takes.
   */
  batchSize?: number;
}

export const LEASE_PURGE_JOB = "lease_purge";

export function leasePurgeJob(deps: { store: Pick<Store, "purgeEndedLeases">; metrics: Pick<Metrics, "leasesPurged"> }, options: LeasePurgeOptions): Job {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError("batchSize must be a positive integer");
  if (!(options.retentionMs >= 0)) throw new TypeError("retentionMs must be zero or more");
  return {
    name: LEASE_PURGE_JOB,
    intervalMs: options.intervalMs,
    async run({ now, signal }) {
      // One cutoff for the whole run: leases ending while it runs wait for the next one.
      const endedBefore = now() - options.retentionMs;
      let purged = 0;
      let batches = 0;
      while (!signal.aborted) {
        const deleted = await deps.store.purgeEndedLeases(endedBefore, batchSize);
        purged += deleted;
        batches += 1;
        deps.metrics.leasesPurged.inc(deleted);
        if (deleted < batchSize) break;
        await yieldToRequests();
      }
      return { purged, batches };
    },
  };
}
