/**
 * Prometheus metrics. Labels carry identifiers only (route templates, server ids, outcomes),
 * never a secret value or a raw request path.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<"route" | "method" | "status">;
  httpLatency: Histogram<"route" | "method" | "outcome">;
  secretAccesses: Counter<"server" | "secret" | "outcome">;
  activeLeases: Gauge;
  auditWriteFailures: Counter;
  auditBatchSize: Histogram;
  tokenIssues: Counter<"outcome">;
  policyReloads: Counter<"outcome">;
  jobRuns: Counter<"job" | "outcome">;
  jobDuration: Histogram<"job">;
  leasesPurged: Counter;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // One prefix for everything: Node's own names already say process_ or nodejs_.
  collectDefaultMetrics({ register: registry, prefix: "credbroker_" });
  return {
    registry,
    httpRequests: new Counter({
      name: "credbroker_http_requests_total",
      help: "HTTP requests by route template, method and status",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    httpLatency: new Histogram({
      name: "credbroker_http_request_duration_seconds",
      help: "HTTP request latency by route template and outcome (ok, client_error, server_error)",
      labelNames: ["route", "method", "outcome"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    secretAccesses: new Counter({
      name: "credbroker_secret_accesses_total",
      help: "Secret reads by server and outcome (allowed, denied, error); by secret path too for allowed reads when metrics.secret_label is on",
      labelNames: ["server", "secret", "outcome"],
      registers: [registry],
    }),
    activeLeases: new Gauge({ name: "credbroker_active_leases", help: "Leases neither expired nor revoked", registers: [registry] }),
    auditWriteFailures: new Counter({
      name: "credbroker_audit_write_failures_total",
      help: "Audit batches that could not be committed (their requests failed closed)",
      registers: [registry],
    }),
    auditBatchSize: new Histogram({
      name: "credbroker_audit_batch_size",
      help: "Audit records per group commit",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [registry],
    }),
    tokenIssues: new Counter({
      name: "credbroker_token_requests_total",
      help: "Token requests by outcome",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    policyReloads: new Counter({
      name: "credbroker_policy_reloads_total",
      help: "Policy reloads by outcome (ok, invalid)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: "credbroker_job_runs_total",
      help: "Background job runs on this broker by job name and outcome (ok, error, interrupted)",
      labelNames: ["job", "outcome"],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: "credbroker_job_duration_seconds",
      help: "Duration of background job runs on this broker by job name",
      labelNames: ["job"],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    leasesPurged: new Counter({
      name: "credbroker_leases_purged_total",
      help: "Ended leases deleted by the lease purge job on this broker",
      registers: [registry],
    }),
  };
}
