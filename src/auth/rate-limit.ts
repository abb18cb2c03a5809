/**
 * Throttling counters: token buckets that bound a key's request rate, and failure counters that
 * lock a key out for a while after repeated bad credentials. Where the counts live is a
 * {@link RateCounters}: this process's memory ({@link MemoryCounters}, one broker per SQLite data
 * directory) or the shared database (shared-counters.ts, every broker on one PostgreSQL database
 * spends the same budget). {@link RateLimiter} binds counters to one budget and lockout policy.
 */

/** A token bucket: `burst` requests at once, refilled at `ratePerSecond`. */
export interface Budget {
  /** Sustained requests per second per key (> 0). */
  ratePerSecond: number;
  /** Requests a key may make at once (>= 1). */
  burst: number;
}

/** `maxFailures` failures within `failureWindowSeconds` lock the key out for `lockoutSeconds`. */
export interface LockoutPolicy {
  maxFailures: number;
  failureWindowSeconds: number;
  lockoutSeconds: number;
}

/**
 * The counters behind throttling. Times are epoch milliseconds passed in by the caller (a frozen
 * clock in tests). Every method may reject with a BrokerError (`storage_unavailable`) when the
 * counters live in a database that failed; the in-memory ones never do.
 */
export interface RateCounters {
  /**
   * Takes `cost` tokens (1 or more; more than `burst` counts as `burst`) from `key`'s bucket.
   * Gives 0 when allowed, else the whole seconds (>= 1) to wait before `cost` tokens are there;
   * a refused take takes nothing. A key never seen before starts with a full bucket. Counters in
   * memory answer at once (a number), those in a database with a promise.
   */
  take(key: string, budget: Budget, cost: number, now: number): number | Promise<number>;
  /** Seconds left of `key`'s lockout, or 0 when it is not locked out. */
  lockedFor(key: string, now: number): Promise<number>;
  /** Counts one failure of `key`; the failure that reaches `maxFailures` in the window starts a lockout. */
  recordFailure(key: string, policy: LockoutPolicy, now: number): Promise<void>;
  /** Forgets `key`'s failures (a correct credential). A lockout in force is only ever checked before. */
  recordSuccess(key: string): Promise<void>;
}

/**
 * A token-bucket take over a bucket's state: the tokens left after it, and when refused the time
 * until the tokens are there (`waitMs`) and the same in whole seconds (>= 1, for Retry-After).
 */
export function takeFrom(
  state: { tokens: number; updatedAt: number } | undefined,
  budget: Budget,
  cost: number,
  now: number,
): { tokens: number; waitMs: number; waitSeconds: number } {
  const needed = Math.min(cost, budget.burst);
  // A clock behind the bucket's (another broker's) refills nothing rather than draining it.
  const refilled = state === undefined ? budget.burst : Math.min(budget.burst, state.tokens + (Math.max(0, now - state.updatedAt) / 1000) * budget.ratePerSecond);
  if (refilled >= needed) return { tokens: refilled - needed, waitMs: 0, waitSeconds: 0 };
  const waitMs = Math.ceil(((needed - refilled) / budget.ratePerSecond) * 1000);
  return { tokens: refilled, waitMs, waitSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

interface Failures {
  count: number;
  windowStart: number;
  lockedUntil: number;
}

/**
 * Counters in this process's memory. At most `maxKeys` buckets and as many failure entries are
 * kept: past that the oldest quarter is dropped, so a flood of distinct keys costs bounded memory
 * (a dropped key starts again with a full bucket, a dropped failure count from zero).
 */
export class MemoryCounters implements RateCounters {
  private readonly buckets = new Map<string, Bucket>();
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly maxKeys = 100_000) {}

  take(key: string, budget: Budget, cost: number, now: number): number {
    const existing = this.buckets.get(key);
    const outcome = takeFrom(existing, budget, cost, now);
    if (existing) {
      existing.tokens = outcome.tokens;
      existing.updatedAt = Math.max(now, existing.updatedAt);
    } else {
      this.sweep(this.buckets);
      this.buckets.set(key, { tokens: outcome.tokens, updatedAt: now });
    }
    return outcome.waitSeconds;
  }

  lockedFor(key: string, now: number): Promise<number> {
    const entry = this.failures.get(key);
    return Promise.resolve(entry && entry.lockedUntil > now ? Math.ceil((entry.lockedUntil - now) / 1000) : 0);
  }

  recordFailure(key: string, policy: LockoutPolicy, now: number): Promise<void> {
    let entry = this.failures.get(key);
    if (!entry || now - entry.windowStart > policy.failureWindowSeconds * 1000) entry = { count: 0, windowStart: now, lockedUntil: entry?.lockedUntil ?? 0 };
    entry.count += 1;
    if (entry.count >= policy.maxFailures) {
      entry.lockedUntil = now + policy.lockoutSeconds * 1000;
      entry.count = 0;
      entry.windowStart = now;
    }
    if (!this.failures.has(key)) this.sweep(this.failures);
    this.failures.set(key, entry);
    return Promise.resolve();
  }

  recordSuccess(key: string): Promise<void> {
    this.failures.delete(key);
    return Promise.resolve();
  }

  private sweep(map: Map<string, unknown>): void {
    if (map.size < this.maxKeys) return;
    // Drop the oldest quarter: insertion order approximates age well enough for a DoS bound.
    let drop = Math.max(1, Math.floor(this.maxKeys / 4));
    for (const key of map.keys()) {
      if (drop-- <= 0) break;
      map.delete(key);
    }
  }
}

export interface RateLimitOptions extends Budget, LockoutPolicy {
  /** Where the counts live; default: this process's memory. */
  counters?: RateCounters;
  clock?: () => number;
}

/** One budget and one lockout policy over a set of counters (the token endpoint's). */
export class RateLimiter {
  private readonly counters: RateCounters;
  private readonly clock: () => number;
  private readonly budget: Budget;
  private readonly policy: LockoutPolicy;

  constructor(options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) throw new TypeError("a rate limit needs ratePerSecond > 0 and burst >= 1");
    this.counters = options.counters ?? new MemoryCounters();
    this.clock = options.clock ?? Date.now;
    this.budget = { ratePerSecond: options.ratePerSecond, burst: options.burst };
    this.policy = { maxFailures: options.maxFailures, failureWindowSeconds: options.failureWindowSeconds, lockoutSeconds: options.lockoutSeconds };
  }

  /** Takes one token for `key`; resolves 0 when allowed, else the seconds to wait. */
  async take(key: string): Promise<number> {
    return this.counters.take(key, this.budget, 1, this.clock());
  }

  /** Seconds left of a lockout for `key`, or 0. */
  lockedFor(key: string): Promise<number> {
    return this.counters.lockedFor(key, this.clock());
  }

  recordFailure(key: string): Promise<void> {
    return this.counters.recordFailure(key, this.policy, this.clock());
  }

  recordSuccess(key: string): Promise<void> {
    return this.counters.recordSuccess(key);
  }
}

/** One budget over a set of counters, each take of any cost: every route's budget per source address. */
export class BudgetLimiter {
  constructor(
    private readonly counters: RateCounters,
    private readonly budget: Budget,
    private readonly clock: () => number = Date.now,
  ) {
    if (!(budget.ratePerSecond > 0) || !(budget.burst >= 1)) throw new TypeError("a budget needs ratePerSecond > 0 and burst >= 1");
  }

  /** Takes `cost` (default 1) from `key`'s bucket: 0 when allowed, else the seconds to wait (a promise when the counters live in a database). */
  take(key: string, cost = 1): number | Promise<number> {
    return this.counters.take(key, this.budget, cost, this.clock());
  }
}
