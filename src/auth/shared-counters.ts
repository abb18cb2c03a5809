/**
 * Throttling counters in the shared database (PostgreSQL): every broker on it spends the same
 * budgets and sees the same lockouts, so N brokers behind a load balancer do not give a source N
 * times the requests or the guesses.
 *
 * When the database fails:
 * - a budget (`take`) falls back to this broker's own counters, with the same budget: requests
 *   stay limited, per broker, and are not all turned into errors by a counter they do not need;
 * - a lockout check (`lockedFor`) and a failure count (`recordFailure`) fail closed: they reject
 *   (storage_unavailable, a 503), so no token is issued to a source whose lockout is unknown and
 *   no guess goes uncounted.
 *
 * A source refused by the shared bucket is refused here without asking the database again until
 * its wait is over (the shared bucket cannot refill faster), so a flood past the budget costs the
 * database one query per source and wait, not one per request.
 */
import type { Store } from "../store/store.js";
import type { Logger } from "../logger.js";
import { MemoryCounters, takeFrom, type Budget, type LockoutPolicy, type RateCounters } from "./rate-limit.js";

export type SharedCounterStore = Pick<Store, "takeRateTokens" | "getRateBucket" | "authLockedUntil" | "recordAuthFailure" | "clearAuthFailures">;

/** How often a failing database is reported in the log while budgets fall back, in ms. */
const FALLBACK_LOG_INTERVAL_MS = 60_000;

export class SharedCounters implements RateCounters {
  private readonly fallback: MemoryCounters;
  /** Keys refused by the shared bucket, and until when (epoch ms): answered here meanwhile. */
  private readonly refusedUntil = new Map<string, number>();
  private lastFallbackLog = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: SharedCounterStore,
    private readonly logger: Pick<Logger, "error">,
    private readonly maxKeys = 100_000,
  ) {
    this.fallback = new MemoryCounters(maxKeys);
  }

  async take(key: string, budget: Budget, cost: number, now: number): Promise<number> {
    const refused = this.refusedUntil.get(key);
    if (refused !== undefined) {
      // Until then the shared bucket holds less than one token, whatever other brokers do.
      if (refused > now) return Math.max(1, Math.ceil((refused - now) / 1000));
      this.refusedUntil.delete(key);
    }
    try {
      if (await this.store.takeRateTokens(key, budget, cost, now)) return 0;
      const { waitMs, waitSeconds } = takeFrom(await this.store.getRateBucket(key), budget, cost, now);
      // The bucket may have refilled between the two queries: then there is nothing to remember.
      if (waitMs > 0) this.remember(key, cost, now + waitMs);
      return Math.max(1, waitSeconds);
    } catch (error) {
      if (now - this.lastFallbackLog >= FALLBACK_LOG_INTERVAL_MS) {
        this.lastFallbackLog = now;
        this.logger.error({ err: String(error) }, "shared rate-limit counters unavailable; budgets count per broker meanwhile");
      }
      return this.fallback.take(key, budget, cost, now);
    }
  }

  async lockedFor(key: string, now: number): Promise<number> {
    const until = await this.store.authLockedUntil(key);
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  recordFailure(key: string, policy: LockoutPolicy, now: number): Promise<void> {
    return this.store.recordAuthFailure(key, policy, now);
  }

  recordSuccess(key: string): Promise<void> {
    return this.store.clearAuthFailures(key);
  }

  private remember(key: string, cost: number, until: number): void {
    // Only a refusal of a single request is remembered: a costlier take refused says nothing of a cheaper one.
    if (cost > 1) return;
    if (this.refusedUntil.size >= this.maxKeys) this.refusedUntil.clear();
    this.refusedUntil.set(key, until);
  }
}
