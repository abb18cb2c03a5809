/**
 * The parts every remote mount has, built from its shared options: a circuit breaker (its state
 * exported as a gauge and logged on change), a guard that puts each call under the breaker and a
 * deadline, and a value cache.
 */
import { ValueCache } from "./cache.js";
import { CircuitBreaker, type CircuitState } from "./circuit-breaker.js";
import { MountGuard, type ErrorClassifier } from "./guard.js";
import type { RemoteOptions } from "./mount-options.js";
import type { FactoryDeps } from "./plugin.js";

const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

export function remoteParts(mount: RemoteOptions, deps: Pick<FactoryDeps, "logger" | "metrics" | "clock">, classify: ErrorClassifier): { guard: MountGuard; cache: ValueCache } {
  const { logger, metrics, clock } = deps;
  metrics.circuitState.set({ mount: mount.path }, 0);
  const breaker = new CircuitBreaker({
    failureThreshold: mount.circuit_breaker.failure_threshold,
    cooldownMs: mount.circuit_breaker.cooldown * 1000,
    clock,
    onStateChange: (state, previous) => {
      metrics.circuitState.set({ mount: mount.path }, CIRCUIT_GAUGE[state]);
      const log = state === "open" ? logger.warn.bind(logger) : logger.info.bind(logger);
      log({ mount: mount.path, state, previous }, state === "open" ? "backend circuit opened: failing fast" : "backend circuit closed");
    },
  });
  return {
    guard: new MountGuard({ mount: mount.path, timeoutMs: mount.timeout, breaker, metrics, classify }),
    cache: new ValueCache({ maxAgeMs: mount.cache.max_age * 1000, maxEntries: mount.cache.max_entries, clock }),
  };
}
