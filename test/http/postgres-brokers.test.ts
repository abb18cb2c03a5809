/**
 * Several brokers on one PostgreSQL database, as behind a load balancer: a server registered on
 * one broker reads through another, revocations made on one hold on the other, and the audit
 * trail written by both is one unbroken chain.
 */
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { follow, waitFor } from "../helpers/sse.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const POLICY = `
servers:
  shared-mcp:
    allow:
      - secrets: ["shared/**"]
        actions: [read]
`;

describePostgres("two brokers sharing PostgreSQL", () => {
  let schema: TestSchema;
  let a: TestBroker;
  let b: TestBroker;
  const value = testSecret("pg-shared");

  beforeAll(async () => {
    schema = await createTestSchema("brokers");
    a = await startTestBroker({ policy: POLICY, config: { database: schema.url, public_url: "https://credbroker.internal" } });
    b = await startTestBroker({ policy: POLICY, config: { database: schema.url, public_url: "https://credbroker.internal" }, masterKeyFile: join(a.dir, "master.key"), adminToken: a.adminToken });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await schema?.drop();
  });

  // Behind a load balancer every broker has the same public_url: it is the tokens' issuer and audience.
  it("serves through broker B what was registered and written through broker A, with tokens from either", async () => {
    const secret = await a.registerServer("shared-mcp");
    await a.putSecret("shared/db", value);
    const tokenFromA = await a.serverToken("shared-mcp", secret);
    const tokenFromB = await b.serverToken("shared-mcp", secret);
    expect((await b.call<{ value: string }>("GET", "/v1/secrets/shared/db", { token: tokenFromB })).body.value).toBe(value);
    expect((await a.call<{ value: string }>("GET", "/v1/secrets/shared/db", { token: tokenFromB })).body.value).toBe(value);
    expect((await b.call<{ value: string }>("GET", "/v1/secrets/shared/db", { token: tokenFromA })).body.value).toBe(value);
  });

  it("relays events between brokers: a stream on B hears of a new version and a revocation made on A", async () => {
    const secret = (await a.admin<{ client_secret: string }>("POST", "/v1/admin/servers/shared-mcp/rotate-credentials")).body.client_secret;
    const token = await b.serverToken("shared-mcp", secret);
    const stream = follow(b.url, token);
    try {
      await waitFor(() => (stream.events.length > 0 ? true : undefined), "the stream on B");
      const { body } = await b.call<{ lease_id: string }>("GET", "/v1/secrets/shared/db", { token });
      await a.putSecret("shared/db", testSecret("pg-shared-v2"));
      await a.admin("POST", "/v1/admin/leases/revoke", { lease_id: body.lease_id });
      expect((await waitFor(() => stream.events.find((e) => e.event === "secret.version"), "secret.version on B")).data).toMatchObject({ secret: "shared/db", version: 2 });
      expect((await waitFor(() => stream.events.find((e) => e.event === "lease.revoked"), "lease.revoked on B")).data).toMatchObject({ lease_id: body.lease_id });
    } finally {
      stream.stop();
    }
  });

  it("a signing key rotated on A is published, used and accepted by B at once", async () => {
    const secret = await a.registerServer("rotating-mcp");
    const rotated = await a.admin<{ kid: string }>("POST", "/v1/admin/keys/rotate?target=signing");
    expect(rotated.status).toBe(200);
    const kid = rotated.body.kid;
    await waitFor(async () => {
      const jwks = await b.call<{ keys: Array<{ kid: string }> }>("GET", "/.well-known/jwks.json");
      return jwks.body.keys.some((key) => key.kid === kid) ? true : undefined;
    }, "the new key in B's JWKS");
    const tokenFromB = await b.serverToken("rotating-mcp", secret);
    expect(JSON.parse(Buffer.from(tokenFromB.split(".")[0]!, "base64url").toString("utf8")).kid).toBe(kid);
    const tokenFromA = await a.serverToken("rotating-mcp", secret);
    expect((await b.call("GET", "/v1/leases", { token: tokenFromA })).status).toBe(200);
  });

  it("a lease revoked on A cannot be renewed on B; a server disabled on B is refused by A", async () => {
    const secret = (await a.admin<{ client_secret: string }>("POST", "/v1/admin/servers/shared-mcp/rotate-credentials")).body.client_secret;
    const token = await a.serverToken("shared-mcp", secret);
    const { body } = await b.call<{ lease_id: string }>("GET", "/v1/secrets/shared/db", { token });
    await a.admin("POST", "/v1/admin/leases/revoke", { lease_id: body.lease_id });
    expect((await b.call("POST", `/v1/leases/${body.lease_id}/renew`, { token })).status).toBe(410);
    await b.admin("POST", "/v1/admin/servers/shared-mcp/disable");
    expect((await a.call("GET", "/v1/secrets/shared/db", { token })).status).toBe(401);
  });

  it("keeps one unbroken audit chain written by both brokers", async () => {
    const { body } = await b.admin<{ ok: boolean; checked: number }>("GET", "/v1/audit/verify");
    expect(body.ok).toBe(true);
    expect(body.checked).toBeGreaterThan(10);
    const actors = await a.broker.store.queryAudit({ action: "secret.read", limit: 100 });
    expect(new Set(actors.map((r) => r.actor))).toEqual(new Set(["shared-mcp"]));
  });
});
