/**
 * Job wiring: the background jobs this broker takes part in, and the one runner that runs each of
 * them on exactly one broker of those sharing the database (src/jobs/runner.ts). A new job (the
 * rotation schedule, dynamic revocation, soft-delete destruction) is added to the list here.
 */
import type { BrokerConfig } from "../config.js";
import { leasePurgeJob } from "../jobs/lease-purge.js";
import { JobRunner, type JobRunnerOptions } from "../jobs/runner.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";

export interface JobWiringDeps {
  config: Pick<BrokerConfig, "lease">;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
}

/** Builds the runner; starts nothing. */
export function createJobs(deps: JobWiringDeps, options: JobRunnerOptions = {}): JobRunner {
  const { config, store, logger, metrics, clock } = deps;
  const jobs = [leasePurgeJob({ store, metrics }, { retentionMs: config.lease.retention * 1000, intervalMs: config.lease.purge_interval * 1000 })];
  return new JobRunner({ store, clock, logger: logger.child({ component: "jobs" }), metrics }, jobs, options);
}
