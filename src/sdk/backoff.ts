/** Exponential backoff with jitter, and an abortable sleep. */

export interface RetryPolicy {
  /** Most attempts of one call, the first included (default 4). */
  attempts: number;
  /** Delay before the second attempt, milliseconds (default 200). */
  baseDelayMs: number;
  /** Longest delay between two attempts, milliseconds (default 5 000). */
  maxDelayMs: number;
  /** Give up once this much time has passed since the first attempt, milliseconds (default: no limit). */
  maxElapsedMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 };

/**
 * The delay before retry number `retry` (0 for the first retry): "equal jitter", half of the
 * exponential step plus a random half, so delays keep growing yet never synchronise clients.
 */
export function backoffDelay(retry: number, policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry, 30));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. (The timer keeps the process alive: someone awaits it.) */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
