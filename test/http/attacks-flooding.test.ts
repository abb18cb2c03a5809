/**
 * Flooding: whoever can reach the broker must not grow its audit trail without limit, spend
 * unbounded requests, or make it answer huge error bodies. Each source address has a budget for
 * every route (429 `rate_limited` with Retry-After past it), repeated unauthenticated refusals are
 * audited once per window with a count, and a 403 naming many denied secrets stays small.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BudgetLimiter, MemoryCounters } from "../../src/auth/rate-limit.js";
import type { AuditRecord } from "../../src/domain.js";
import { requestRateLimit } from "../../src/http/middleware/rate-limit.js";
import { openStore } from "../../src/store/open.js";
import { expectBrokerError, expectOAuthError, rawRequest, requestIdOf, startAttackTarget, type AttackTarget } from "../helpers/attack-kit.js";
import type { TestBroker } from "../helpers/broker.js";

const TEST_LIMITS = { per_second: 1000, burst: 1000, max_failures: 1000 };

/** Every audit record whose source is `source`, oldest first. */
async function recordsFrom(tb: TestBroker, source: string): Promise<AuditRecord[]> {
  return (await tb.broker.store.queryAudit({ limit: 1_000_000 })).filter((record) => record.sourceIp === source);
}

const from = (source: string, headers: Record<string, string> = {}) => ({ "x-forwarded-for": source, ...headers });

describe("every route has a budget per source address", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget({ config: { trust_proxy: true, rate_limit: { ...TEST_LIMITS, requests: { per_second: 0.001, burst: 10 } } } });
  });
  afterAll(() => target.tb.close());

  it("a source over its budget gets 429 rate_limited with Retry-After; another source and the probes are still served", async () => {
    const source = "203.0.113.20";
    for (let i = 0; i < 10; i += 1) {
      expect((await rawRequest(target.tb.url, { method: "GET", target: "/.well-known/jwks.json", headers: from(source) })).status).toBe(200);
    }
    const refused = await rawRequest(target.tb.url, { method: "GET", target: "/.well-known/jwks.json", headers: from(source) });
    expectBrokerError(refused, 429, "rate_limited", target.material());
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    // The token endpoint answers in RFC 6749 form, the limit in front of it too.
    const token = await rawRequest(target.tb.url, {
      method: "POST",
      target: "/v1/auth/token",
      headers: from(source, { "content-type": "application/json" }),
      body: JSON.stringify({ grant_type: "client_credentials", client_id: "server-a", client_secret: target.clientSecrets["server-a"] }),
    });
    expectOAuthError(token, 429, "rate_limited", target.material());
    for (const probe of ["/healthz", "/readyz"]) {
      expect((await rawRequest(target.tb.url, { method: "GET", target: probe, headers: from(source) })).status, probe).toBe(200);
    }
    expect((await rawRequest(target.tb.url, { method: "GET", target: "/.well-known/jwks.json", headers: from("203.0.113.21") })).status).toBe(200);
  });

  it("a batch read costs one per name", async () => {
    const token = await target.token("server-a"); // from 127.0.0.1, its own budget
    const source = "203.0.113.22";
    const read = (names: string[]) =>
      rawRequest(target.tb.url, { method: "POST", target: "/v1/secrets/read", headers: from(source, { "content-type": "application/json", authorization: `Bearer ${token}` }), body: JSON.stringify({ names }) });
    expect((await rawRequest(target.tb.url, { method: "GET", target: "/.well-known/jwks.json", headers: from(source) })).status).toBe(200);
    // 9 left: the request takes 1, its 10 names 9 more.
    expectBrokerError(await read(Array.from({ length: 10 }, () => "a/token")), 429, "rate_limited", target.material());
    // The refused batch took only the request's own token: 8 are left, enough for 8 names.
    expect((await read(Array.from({ length: 8 }, () => "a/token"))).status).toBe(200);
    expectBrokerError(await read(["a/token"]), 429, "rate_limited", target.material());
  });
});

describe("repeated unauthenticated refusals are audited once per window, with a count", () => {
  let now = Date.parse("2026-12-04T12:00:00Z");
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget({ clock: () => now, config: { trust_proxy: true, rate_limit: TEST_LIMITS } }); // the default window: 1 minute
  });
  afterAll(() => target.tb.close());

  const junk = (source: string, i: number) => rawRequest(target.tb.url, { method: "GET", target: `/v1/nothing-${i}`, headers: from(source) });
  const noToken = (source: string) => rawRequest(target.tb.url, { method: "GET", target: "/v1/secrets/a/token", headers: from(source) });

  it("200 junk requests from one source leave one record per kind until the window closes, then one summary with the count", async () => {
    const source = "198.51.100.7";
    for (let i = 0; i < 100; i += 1) expect((await junk(source, i)).status).toBe(404);
    for (let i = 0; i < 100; i += 1) expect((await noToken(source)).status).toBe(401);
    const during = await recordsFrom(target.tb, source);
    expect(during.map(({ action, reason }) => ({ action, reason }))).toEqual([
      { action: "http.reject", reason: "not_found" },
      { action: "auth.verify", reason: "missing_token" },
    ]);

    now += 61_000;
    const next = await junk(source, 1000);
    const after = await recordsFrom(target.tb, source);
    expect(after.slice(2).map(({ action, reason, outcome, actorKind }) => ({ action, reason, outcome, actorKind }))).toEqual([
      { action: "http.reject", reason: "not_found; count=99", outcome: "denied", actorKind: "anonymous" },
      { action: "http.reject", reason: "not_found", outcome: "denied", actorKind: "anonymous" },
    ]);
    // The new window's first refusal is recorded at once, under its own request id.
    expect(after.at(-1)!.requestId).toBe(requestIdOf(next));
  });

  it("an authenticated server's denied reads stay one record each", async () => {
    const token = await target.token("server-a");
    const source = "198.51.100.8";
    for (let i = 0; i < 20; i += 1) {
      const denied = await rawRequest(target.tb.url, { method: "GET", target: "/v1/secrets/a/admin/key", headers: from(source, { authorization: `Bearer ${token}` }) });
      expect(denied.status).toBe(403);
    }
    expect((await recordsFrom(target.tb, source)).filter((record) => record.action === "secret.read" && record.outcome === "denied")).toHaveLength(20);
  });
});

describe("the counts still in their window are written at shutdown", () => {
  let target: AttackTarget | undefined;
  afterEach(() => {
    if (target) rmSync(target.tb.dir, { recursive: true, force: true });
  });

  it("closing the broker writes the summary of an open window", async () => {
    target = await startAttackTarget({ config: { trust_proxy: true, rate_limit: { ...TEST_LIMITS, refusal_window: "1h" } } });
    const source = "192.0.2.9";
    for (let i = 0; i < 30; i += 1) await rawRequest(target.tb.url, { method: "GET", target: `/v1/junk-${i}`, headers: from(source) });
    await target.tb.broker.close();
    const store = await openStore(`sqlite:${join(target.tb.dir, "broker.db")}`);
    try {
      const records = (await store.queryAudit({ limit: 1_000_000 })).filter((record) => record.sourceIp === source);
      expect(records.map((record) => record.reason)).toEqual(["not_found", "not_found; count=29"]);
    } finally {
      await store.close();
    }
  });
});

describe("error bodies stay bounded", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(() => target.tb.close());

  it("a batch of 500 names is refused with 400 before any is decided", async () => {
    const token = await target.token("server-a");
    const names = Array.from({ length: 500 }, (_, i) => `a/n${i}`);
    const response = await rawRequest(target.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ names }) });
    expectBrokerError(response, 400, "invalid_request", target.material());
  });

  it("a 403 naming 100 denied names of 500 characters lists 10 and counts the rest; each denial is still audited", async () => {
    const token = await target.token("server-a");
    const names = Array.from({ length: 100 }, (_, i) => `other/${String(i).padStart(3, "0")}${"x".repeat(490)}`);
    const response = await rawRequest(target.tb.url, { method: "POST", target: "/v1/secrets/read", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ names }) });
    const error = expectBrokerError(response, 403, "denied", target.material()).error as unknown as { denied: Array<{ secret: string }>; denied_omitted: number };
    expect(response.text.length).toBeLessThan(16 * 1024);
    expect(error.denied.map((entry) => entry.secret)).toEqual(names.slice(0, 10));
    expect(error.denied_omitted).toBe(90);
    const records = (await target.tb.broker.store.queryAudit({ limit: 1_000_000 })).filter((record) => record.requestId === requestIdOf(response));
    expect(records.filter((record) => record.action === "secret.read" && record.outcome === "denied")).toHaveLength(100);
  });
});

describe("the rate-limit middleware's options", () => {
  it("are checked when it is created", () => {
    expect(() => requestRateLimit({ limiter: undefined as never })).toThrow(TypeError);
    expect(() => new BudgetLimiter(new MemoryCounters(), { ratePerSecond: 0, burst: 10 })).toThrow(TypeError);
    expect(() => new BudgetLimiter(new MemoryCounters(), { ratePerSecond: 1, burst: 0 })).toThrow(TypeError);
    expect(requestRateLimit({ limiter: new BudgetLimiter(new MemoryCounters(), { ratePerSecond: 1, burst: 1 }) }).name).toBe("requestRateLimitMiddleware");
  });
});
