/**
 * A circuit breaker per mount: after `failureThreshold` consecutive failures it opens and calls
 * fail fast for `cooldownMs`; then one probe call is let through (half-open): its success closes
 * the circuit, its failure opens it for another cool-down. Only availability failures count
 * (timeouts, refused connections, 5xx); a 403 or 404 proves the backend is answering.
 */

export type CircuitState = "closed" | "open" | "half_open";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** Milliseconds the circuit stays open before a probe is let through (default 30 000). */
  cooldownMs?: number;
  /** Time source in ms (default Date.now); tests pass a frozen clock. */
  clock?: () => number;
  /** Told of every state change, for logs and metrics. */
  onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

/** Permission to make one call; hand it back with `success` or `failure`. */
export interface CircuitPermit {
  readonly probe: boolean;
  /** The circuit generation the permit belongs to: outcomes of calls from an older generation are ignored. */
  readonly generation: number;
}

export type CircuitDecision = { allowed: true; permit: CircuitPermit } | { allowed: false; retryAfterMs: number };

export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly clock: () => number;
  private readonly onStateChange: ((state: CircuitState, previous: CircuitState) => void) | undefined;
  private consecutiveFailures = 0;
  private openedAt: number | undefined;
  private probing = false;
  private generation = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const { failureThreshold = 5, cooldownMs = 30_000, clock = Date.now } = options;
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) throw new TypeError("failureThreshold must be a positive integer");
    if (!Number.isFinite(cooldownMs) || cooldownMs < 0) throw new TypeError("cooldownMs must be >= 0");
    this.failureThreshold = failureThreshold;
    this.cooldownMs = cooldownMs;
    this.clock = clock;
    this.onStateChange = options.onStateChange;
  }

  get state(): CircuitState {
    if (this.openedAt === undefined) return "closed";
    return this.clock() - this.openedAt >= this.cooldownMs ? "half_open" : "open";
  }

  /** Asks to make a call. While open (or while the half-open probe is in flight) the answer is no. */
  acquire(): CircuitDecision {
    const state = this.state;
    if (state === "closed") return { allowed: true, permit: { probe: false, generation: this.generation } };
    if (state === "open" || this.probing) {
      const remaining = this.openedAt === undefined ? 0 : this.cooldownMs - (this.clock() - this.openedAt);
      return { allowed: false, retryAfterMs: Math.max(remaining, 1000) };
    }
    this.probing = true;
    return { allowed: true, permit: { probe: true, generation: this.generation } };
  }

  success(permit: CircuitPermit): void {
    if (permit.generation !== this.generation) return;
    if (permit.probe) {
      this.close();
      return;
    }
    if (this.openedAt === undefined) this.consecutiveFailures = 0;
  }

  failure(permit: CircuitPermit): void {
    if (permit.generation !== this.generation) return;
    if (permit.probe) {
      this.open("half_open");
      return;
    }
    if (this.openedAt !== undefined) return;
    this.consecutiveFailures += 1;
    if (this.consecutiveFailures >= this.failureThreshold) this.open("closed");
  }

  private open(previous: CircuitState): void {
    this.openedAt = this.clock();
    this.probing = false;
    this.generation += 1;
    this.onStateChange?.("open", previous);
  }

  private close(): void {
    this.openedAt = undefined;
    this.probing = false;
    this.consecutiveFailures = 0;
    this.generation += 1;
    this.onStateChange?.("closed", "half_open");
  }
}
