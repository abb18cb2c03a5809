/**
 * Job wiring: the background jobs this broker takes part in, and the one runner that runs each of
 * them on exactly one broker of those sharing the database (src/jobs/runner.ts). A new job (the
 * rotation schedule, dynamic revocation, soft-delete destruction) is added to the list here.
 */
import type { BrokerConfig } from "../config.js";
import { leasePurgeJob } from "../jobs/lease-purge.js";
import { rateCounterCleanupJob } from "../jobs/rate-counter-cleanup.js";
import { JobRunner, type JobRunnerOptions } from "../jobs/runner.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";

export interface JobWiringDeps {
  config: Pick<BrokerConfig, "lease" | "rate_limit">;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
}

/** Builds the runner; starts nothing. */
export function createJobs(deps: JobWiringDeps, options: JobRunnerOptions = {}): JobRunner {
  const { config, store, logger, metrics, clock } = deps;
  const jobs = [
    leasePurgeJob({ store, metrics }, { retentionMs: config.lease.retention * 1000, intervalMs: config.lease.purge_interval * 1000 }),
    rateCounterCleanupJob({ store }, rateCounterCleanupOptions(config.rate_limit)),
  ];
  return new JobRunner({ store, clock, logger: logger.child({ component: "jobs" }), metrics }, jobs, options);
}

/** A minute beyond the longest refill of any budget (brokers' clocks may differ that much), every 10 minutes. */
function rateCounterCleanupOptions(limits: BrokerConfig["rate_limit"]) {
  const longestRefillMs = Math.max(limits.burst / limits.per_second, limits.requests.burst / limits.requests.per_second) * 1000;
  return { idleMs: Math.ceil(longestRefillMs) + 60_000, failureWindowMs: limits.failure_window * 1000, intervalMs: 10 * 60_000 };
}
