/**
 * POST /v1/admin/leases/{id}/renew: an operator extends any server's lease exactly as far as the
 * server itself could (by at most the default ttl, never past the max ttl, only while the policy
 * still allows the read); ended leases stay ended. Injected clock: nothing waits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  renew-mcp:
    allow:
      - secrets: ["app/*"]
        actions: [read]
        max_ttl: 1h
`;

interface LeaseJson {
  lease_id: string;
  server: string;
  expires_at: string;
  max_expires_at: string;
  renewable: boolean;
}

describe("an operator renews a server's lease (injected clock)", () => {
  let b: TestBroker;
  let clientSecret: string;
  let now = Date.parse("2026-02-01T09:00:00Z");

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY, clock: () => now, config: { lease: { default_ttl: "15m", max_ttl: "24h" } } });
    await b.putSecret("app/key", testSecret("renew"));
    clientSecret = await b.registerServer("renew-mcp");
  });
  afterAll(() => b.close());

  const issue = async (): Promise<string> => {
    // A fresh token each time: the clock moves past a token's 15 minutes.
    const token = await b.serverToken("renew-mcp", clientSecret);
    const read = await b.call<{ lease_id: string }>("GET", "/v1/secrets/app/key", { token });
    expect(read.status).toBe(200);
    return read.body.lease_id;
  };
  const renew = (id: string, body?: unknown, operatorToken = b.adminToken) =>
    b.call<LeaseJson & { error?: { code: string } }>("POST", `/v1/admin/leases/${id}/renew`, { token: operatorToken, ...(body !== undefined && { body }) });

  it("extends by the default ttl from now, capped at the max ttl, then refuses with not_renewable", async () => {
    const issuedAt = now;
    const id = await issue();
    now = issuedAt + 10 * 60_000;
    const first = await renew(id);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ lease_id: id, server: "renew-mcp" });
    expect(first.body.expires_at).toBe(new Date(now + 15 * 60_000).toISOString());
    for (const minute of [24, 38]) {
      now = issuedAt + minute * 60_000;
      expect((await renew(id)).body.expires_at).toBe(new Date(now + 15 * 60_000).toISOString());
    }
    now = issuedAt + 50 * 60_000;
    const capped = await renew(id, { increment: 900 });
    expect(capped.status, JSON.stringify(capped.body)).toBe(200);
    expect(capped.body.expires_at).toBe(new Date(issuedAt + 60 * 60_000).toISOString());
    expect(capped.body.renewable).toBe(false);
    const refused = await renew(id);
    expect([refused.status, refused.body.error?.code]).toEqual([409, "not_renewable"]);
    const records = await b.broker.store.queryAudit({ action: "lease.renew", actor: "admin", limit: 10 });
    expect(records.map((r) => [r.actorKind, r.outcome, r.reason])).toEqual([
      ...Array.from({ length: 4 }, () => ["operator", "allowed", "renewed"]),
      ["operator", "denied", "not_renewable"],
    ]);
  });

  it("an increment larger than the default ttl is cut to it", async () => {
    const id = await issue();
    const renewed = await renew(id, { increment: 3000 });
    expect(renewed.body.expires_at).toBe(new Date(now + 15 * 60_000).toISOString());
  });

  it("refuses a revoked lease (410), an unknown one (404), and a bad body (400)", async () => {
    const id = await issue();
    expect((await b.admin("DELETE", `/v1/admin/leases/${id}`)).status).toBe(200);
    const revoked = await renew(id);
    expect([revoked.status, revoked.body.error?.code]).toEqual([410, "lease_revoked"]);
    expect((await renew("no-such-lease")).status).toBe(404);
    expect((await renew(await issue(), { increment: -5 })).status).toBe(400);
    expect((await renew(await issue(), { increment: 60, extra: true })).status).toBe(400);
  });

  it("refuses once the policy no longer lets the server read the secret", async () => {
    const id = await issue();
    b.writePolicy("test.yaml", "servers:\n  renew-mcp:\n    allow:\n      - secrets: [\"other/*\"]\n        actions: [read]\n");
    try {
      const refused = await renew(id);
      expect([refused.status, refused.body.error?.code]).toEqual([403, "denied"]);
    } finally {
      b.writePolicy("test.yaml", POLICY);
    }
  });

  it("needs the revoke permission: an auditor is refused", async () => {
    const id = await issue();
    const { token: auditor } = (await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "renew-auditor", role: "auditor" })).body;
    const refused = await renew(id, undefined, auditor);
    expect([refused.status, refused.body.error?.code]).toEqual([403, "forbidden"]);
  });
});
