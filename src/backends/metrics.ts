/**
 * Backend metrics, labelled by mount and operation only (never a location or a value): latency
 * and outcome of every remote call, errors by reason, circuit state and cache hits.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Why a backend call failed, as a metric label. */
export type BackendFailureReason = "timeout" | "unavailable" | "circuit_open" | "forbidden" | "invalid" | "not_found" | "error";

export interface BackendMetrics {
  latency: Histogram<"mount" | "operation" | "outcome">;
  errors: Counter<"mount" | "operation" | "reason">;
  /** 0 closed, 1 half-open, 2 open. */
  circuitState: Gauge<"mount">;
  cache: Counter<"mount" | "result">;
}

/** Registers the backend metrics on `registry`; call once per registry. */
export function createBackendMetrics(registry: Registry): BackendMetrics {
  return {
    latency: new Histogram({
      name: "credbroker_backend_request_duration_seconds",
      help: "Latency of calls to remote backends by mount, operation and outcome (ok or a failure reason)",
      labelNames: ["mount", "operation", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    errors: new Counter({
      name: "credbroker_backend_errors_total",
      help: "Failed backend calls by mount, operation and reason (timeout, unavailable, circuit_open, forbidden, invalid, not_found, error)",
      labelNames: ["mount", "operation", "reason"],
      registers: [registry],
    }),
    circuitState: new Gauge({
      name: "credbroker_backend_circuit_state",
      help: "Circuit breaker state per mount: 0 closed, 1 half-open, 2 open",
      labelNames: ["mount"],
      registers: [registry],
    }),
    cache: new Counter({
      name: "credbroker_backend_cache_total",
      help: "Reads served from the per-mount value cache (hit) or sent to the backend (miss)",
      labelNames: ["mount", "result"],
      registers: [registry],
    }),
  };
}
