/**
 * Several brokers on one PostgreSQL database spend one budget: a source's request budget, the
 * token endpoint's budget and its failure lockouts hold across all of them, so N brokers behind a
 * load balancer do not give an attacker N times the guesses. A failure of the shared counters
 * keeps requests served (each broker falls back to its own counters) but refuses token requests
 * whose lockout cannot be checked (503, fail closed).
 */
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { expectBrokerError, expectOAuthError, rawRequest } from "../helpers/attack-kit.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const POLICY = `
servers:
  shared-mcp:
    allow:
      - secrets: ["shared/**"]
        actions: [read]
`;

describePostgres("rate limits shared by two brokers on one PostgreSQL database", () => {
  let schema: TestSchema;
  let a: TestBroker;
  let b: TestBroker;
  let clientSecret: string;

  beforeAll(async () => {
    schema = await createTestSchema("ratelimits");
    const config = {
      database: schema.url,
      public_url: "https://credbroker.internal",
      trust_proxy: true,
      rate_limit: { per_second: 0.001, burst: 5, max_failures: 3, failure_window: "5m", lockout: "15m", requests: { per_second: 0.001, burst: 20 } },
    };
    a = await startTestBroker({ policy: POLICY, config });
    b = await startTestBroker({ policy: POLICY, config, masterKeyFile: join(a.dir, "master.key"), adminToken: a.adminToken });
    clientSecret = await a.registerServer("shared-mcp");
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await schema?.drop();
  });

  const jwks = (broker: TestBroker, source: string) => rawRequest(broker.url, { method: "GET", target: "/.well-known/jwks.json", headers: { "x-forwarded-for": source } });
  const token = (broker: TestBroker, source: string, secret = clientSecret) =>
    rawRequest(broker.url, {
      method: "POST",
      target: "/v1/auth/token",
      headers: { "x-forwarded-for": source, "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: "shared-mcp", client_secret: secret }),
    });

  it("a source's request budget is one: once it is spent on A and B, B refuses", async () => {
    const source = "203.0.113.50";
    for (let i = 0; i < 20; i += 1) expect((await jwks(i % 2 === 0 ? a : b, source)).status).toBe(200);
    expectBrokerError(await jwks(b, source), 429, "rate_limited", [clientSecret]);
    expectBrokerError(await jwks(a, source), 429, "rate_limited", [clientSecret]);
  });

  it("the token endpoint's budget is one: five tokens through A and B, the sixth refused by B", async () => {
    const source = "203.0.113.51";
    for (let i = 0; i < 5; i += 1) expect((await token(i % 2 === 0 ? a : b, source)).status).toBe(200);
    expectOAuthError(await token(b, source), 429, "rate_limited", [clientSecret]);
  });

  it("failures on A lock the source out on B too; the right secret from another source still works", async () => {
    const source = "203.0.113.52";
    expectOAuthError(await token(a, source, "cbs_wrong-1"), 401, "invalid_client", [clientSecret]);
    expectOAuthError(await token(b, source, "cbs_wrong-2"), 401, "invalid_client", [clientSecret]);
    // The third failure (max_failures 3) locks the client out from this source.
    expectOAuthError(await token(a, source, "cbs_wrong-3"), 401, "invalid_client", [clientSecret]);
    // From the locked source, even the right secret is refused, on the broker that saw no failure.
    const lockedOut = await token(b, source);
    expect(lockedOut.status).toBe(429);
    expect(lockedOut.text).toMatch(/failed attempts/);
    expect((await token(b, "203.0.113.54")).status).toBe(200);
  });

  it("without its counters a broker still serves, and refuses the token requests whose lockout it cannot check", async () => {
    await schema.query("DROP TABLE rate_limit_buckets");
    expect((await jwks(a, "203.0.113.60")).status).toBe(200);
    await schema.query("DROP TABLE auth_failures");
    const refused = await token(b, "203.0.113.61");
    expectBrokerError(refused, 503, "storage_unavailable", [clientSecret]);
    expect((await jwks(b, "203.0.113.61")).status).toBe(200);
  });
});
