/**
 * Token-endpoint throttling, in memory per broker process:
 * - a token bucket per key (the token endpoint uses the source address) bounds request rate;
 * - a failure counter per key (method, client id and source address) locks that key out for a
 *   while after repeated bad credentials.
 */
export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  ratePerSecond: number;
  /** Burst size per key. */
  burst: number;
  /** Failures within `failureWindowSeconds` that trigger a lockout. */
  maxFailures: number;
  failureWindowSeconds: number;
  lockoutSeconds: number;
  clock?: () => number;
  /** Entries kept before idle ones are swept (memory bound). */
  maxKeys?: number;
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

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly failures = new Map<string, Failures>();
  private readonly clock: () => number;

  constructor(private readonly options: RateLimitOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Takes one token for `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string): number {
    const now = this.clock();
    const { ratePerSecond, burst } = this.options;
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * ratePerSecond);
    bucket.updatedAt = now;
    this.sweep(this.buckets);
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond));
  }

  /** Seconds left of a lockout for `key`, or 0. */
  lockedFor(key: string): number {
    const entry = this.failures.get(key);
    const now = this.clock();
    return entry && entry.lockedUntil > now ? Math.ceil((entry.lockedUntil - now) / 1000) : 0;
  }

  recordFailure(key: string): void {
    const now = this.clock();
    const windowMs = this.options.failureWindowSeconds * 1000;
    let entry = this.failures.get(key);
    if (!entry || now - entry.windowStart > windowMs) entry = { count: 0, windowStart: now, lockedUntil: 0 };
    entry.count += 1;
    if (entry.count >= this.options.maxFailures) {
      entry.lockedUntil = now + this.options.lockoutSeconds * 1000;
      entry.count = 0;
      entry.windowStart = now;
    }
    this.sweep(this.failures);
    this.failures.set(key, entry);
  }

  recordSuccess(key: string): void {
    this.failures.delete(key);
  }

  private sweep(map: Map<string, unknown>): void {
    const max = this.options.maxKeys ?? 100_000;
    if (map.size < max) return;
    // Drop the oldest quarter: insertion order approximates age well enough for a DoS bound.
    let drop = Math.floor(max / 4);
    for (const key of map.keys()) {
      if (drop-- <= 0) break;
      map.delete(key);
    }
  }
}
