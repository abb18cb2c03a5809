/**
 * Every call to a remote backend goes through its mount's guard: the circuit breaker is asked
 * first (fail fast while open), the call gets a deadline (an AbortSignal the client honours where
 * it can, and a timer that gives up waiting where it cannot), and its latency and outcome are
 * recorded. Whatever the client throws is turned into a BrokerError naming the mount by the
 * backend's own classifier; only availability failures count against the circuit.
 */
import { performance } from "node:perf_hooks";
import { BrokerError } from "../errors.js";
import type { CircuitBreaker } from "./circuit-breaker.js";
import type { BackendFailureReason, BackendMetrics } from "./metrics.js";

/** What a classifier makes of a client error. */
export interface ClassifiedError {
  error: BrokerError;
  reason: BackendFailureReason;
}

/** Turns whatever a backend client threw into a BrokerError; `location` is for the message (an identifier, never a value). */
export type ErrorClassifier = (error: unknown, context: { mount: string; operation: string; location: string | undefined }) => ClassifiedError;

export interface MountGuardOptions {
  mount: string;
  /** Deadline of one call, ms. */
  timeoutMs: number;
  breaker: CircuitBreaker;
  metrics: Pick<BackendMetrics, "latency" | "errors">;
  classify: ErrorClassifier;
}

/** Thrown by the guard's own timer; classifiers see it like any client error. */
export class DeadlineExceeded extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = "DeadlineExceeded";
  }
}

export class MountGuard {
  constructor(private readonly options: MountGuardOptions) {}

  get mount(): string {
    return this.options.mount;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  /**
   * Runs `call` under the breaker and the deadline. `call` receives an AbortSignal that fires at
   * the deadline. Resolves with its result or rejects with a BrokerError naming the mount.
   */
  async run<T>(operation: string, location: string | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { mount, timeoutMs, breaker, metrics, classify } = this.options;
    const decision = breaker.acquire();
    if (!decision.allowed) {
      metrics.errors.inc({ mount, operation, reason: "circuit_open" });
      const retryAfterSeconds = Math.ceil(decision.retryAfterMs / 1000);
      throw new BrokerError("backend_unavailable", `backend ${mount} is unavailable (circuit open after repeated failures; retry in ${retryAfterSeconds} s)`, {
        retryAfterSeconds,
        data: { backend: mount },
      });
    }
    const started = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const exceeded = new DeadlineExceeded(timeoutMs);
        controller.abort(exceeded);
        reject(exceeded);
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([call(controller.signal), deadline]);
      breaker.success(decision.permit);
      metrics.latency.observe({ mount, operation, outcome: "ok" }, (performance.now() - started) / 1000);
      return result;
    } catch (thrown) {
      const cause = controller.signal.aborted && controller.signal.reason instanceof DeadlineExceeded ? controller.signal.reason : thrown;
      const { error, reason } = classify(cause, { mount, operation, location });
      if (error.code === "backend_unavailable") breaker.failure(decision.permit);
      else breaker.success(decision.permit);
      metrics.latency.observe({ mount, operation, outcome: reason }, (performance.now() - started) / 1000);
      metrics.errors.inc({ mount, operation, reason });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The message and error of a call that ran out of time or could not connect. */
export function unavailable(mount: string, why: string, options: { detail?: string; cause?: unknown } = {}): BrokerError {
  return new BrokerError("backend_unavailable", `backend ${mount} is unavailable (${why})`, { ...options, retryAfterSeconds: 5, data: { backend: mount } });
}

/** The metric reason of an error that is already a BrokerError. */
export function reasonOf(error: BrokerError): BackendFailureReason {
  switch (error.code) {
    case "backend_unavailable":
      return "unavailable";
    case "forbidden":
      return "forbidden";
    case "not_found":
      return "not_found";
    case "invalid_request":
      return "invalid";
    default:
      return "error";
  }
}
