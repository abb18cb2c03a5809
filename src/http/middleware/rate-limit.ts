/**
 * Every route's budget per source address: a source over it gets 429 `rate_limited` with
 * `Retry-After`, before its request is read, authenticated or audited one by one (the refusal
 * goes through the refusal summaries like any unauthenticated one). The probes (GET /healthz,
 * /readyz, /metrics) are exempt: load balancers and Prometheus poll them from a few addresses, a
 * 429 there would read as an outage, and they write no audit record (see docs/security.md).
 */
import type { MiddlewareHandler } from "hono";
import type { BudgetLimiter } from "../../auth/rate-limit.js";
import { BrokerError } from "../../errors.js";
import type { AppEnv } from "../context.js";

/** Paths no budget applies to. */
export const PROBE_PATHS: readonly string[] = ["/healthz", "/readyz", "/metrics"];

export interface RequestRateLimitOptions {
  limiter: Pick<BudgetLimiter, "take">;
  /** Paths never limited (exact match); default {@link PROBE_PATHS}. */
  exemptPaths?: readonly string[];
}

/** The budget key of a request's source: its address (`unknown` when the app is called without a socket). */
export function sourceKey(sourceIp: string | null | undefined): string {
  return `req:${sourceIp ?? "unknown"}`;
}

/** Throws `rate_limited` (with `retryAfterSeconds`) for a source over its budget; each request costs 1. */
export function requestRateLimit({ limiter, exemptPaths = PROBE_PATHS }: RequestRateLimitOptions): MiddlewareHandler<AppEnv> {
  if (typeof limiter?.take !== "function") throw new TypeError("requestRateLimit needs a limiter with take()");
  const exempt = new Set(exemptPaths);
  const admit = (wait: number, next: () => Promise<void>) => {
    if (wait > 0) throw new BrokerError("rate_limited", `too many requests from this address; retry in ${wait} seconds`, { retryAfterSeconds: wait });
    return next();
  };
  // Not async: counters in memory answer at once, and a read pays no extra promise and microtask
  // turn for this layer. `npm run bench:instructions -- --compare <ref>`: 1.179 with an await,
  // 0.83-0.92 without, on a loaded machine (docs/benchmarks.md).
  return function requestRateLimitMiddleware(c, next) {
    if (exempt.has(c.req.path)) return next();
    const wait = limiter.take(sourceKey(c.get("sourceIp")));
    return typeof wait === "number" ? admit(wait, next) : wait.then((seconds) => admit(seconds, next));
  };
}
