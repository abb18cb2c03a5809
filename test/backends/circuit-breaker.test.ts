/** The circuit breaker on a frozen clock: when it opens, how long it stays open, what closes it. */
import { describe, expect, it } from "vitest";
import { CircuitBreaker, type CircuitPermit, type CircuitState } from "../../src/backends/circuit-breaker.js";

function setup(options: { failureThreshold?: number; cooldownMs?: number } = {}) {
  let now = Date.parse("2030-01-01T00:00:00Z");
  const changes: Array<[CircuitState, CircuitState]> = [];
  const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 10_000, ...options, clock: () => now, onStateChange: (state, previous) => changes.push([state, previous]) });
  const permit = (): CircuitPermit => {
    const decision = breaker.acquire();
    if (!decision.allowed) throw new Error("expected the breaker to allow a call");
    return decision.permit;
  };
  return { breaker, changes, permit, advance: (ms: number) => (now += ms) };
}

describe("circuit breaker", () => {
  it("stays closed below the threshold and resets the count on a success", () => {
    const { breaker, permit } = setup();
    breaker.failure(permit());
    breaker.failure(permit());
    breaker.success(permit());
    breaker.failure(permit());
    breaker.failure(permit());
    expect(breaker.state).toBe("closed");
  });

  it("opens after N consecutive failures and fails fast with the remaining cool-down", () => {
    const { breaker, permit, changes, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.failure(permit());
    expect(breaker.state).toBe("open");
    expect(changes).toEqual([["open", "closed"]]);
    advance(4_000);
    expect(breaker.acquire()).toEqual({ allowed: false, retryAfterMs: 6_000 });
  });

  it("lets one probe through after the cool-down; its success closes the circuit", () => {
    const { breaker, permit, changes, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.failure(permit());
    advance(10_000);
    expect(breaker.state).toBe("half_open");
    const probe = permit();
    expect(probe.probe).toBe(true);
    expect(breaker.acquire().allowed).toBe(false);
    breaker.success(probe);
    expect(breaker.state).toBe("closed");
    expect(changes.at(-1)).toEqual(["closed", "half_open"]);
    expect(permit().probe).toBe(false);
  });

  it("re-opens for a full cool-down when the probe fails", () => {
    const { breaker, permit, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.failure(permit());
    advance(10_000);
    breaker.failure(permit());
    expect(breaker.state).toBe("open");
    advance(9_999);
    expect(breaker.acquire().allowed).toBe(false);
    advance(1);
    expect(breaker.acquire().allowed).toBe(true);
  });

  it("ignores outcomes of calls that started before the circuit changed state", () => {
    const { breaker, permit, advance } = setup();
    const slow = permit();
    for (let i = 0; i < 3; i++) breaker.failure(permit());
    breaker.success(slow);
    expect(breaker.state).toBe("open");
    advance(10_000);
    const probe = permit();
    breaker.failure(slow);
    breaker.success(probe);
    expect(breaker.state).toBe("closed");
  });

  it("rejects nonsense options as a programming error", () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(TypeError);
    expect(() => new CircuitBreaker({ cooldownMs: -1 })).toThrow(TypeError);
  });
});
