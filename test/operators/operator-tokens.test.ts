/**
 * Operator tokens can expire (`ttl`) and be rotated: an expired token is refused with 401 at the
 * instant it reaches its expiry, a rotated one from the moment its successor is issued. The
 * broker runs with an injected clock, so no test waits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const HOUR = 3_600_000;

describe("operator token expiry and rotation (injected clock)", () => {
  let b: TestBroker;
  let now = Date.parse("2026-01-01T00:00:00Z");

  beforeAll(async () => {
    b = await startTestBroker({ clock: () => now });
  });
  afterAll(() => b.close());

  const create = async (name: string, role: string, ttl?: string) => {
    const created = await b.admin<{ token: string; expires_at: string | null }>("POST", "/v1/admin/operators", { name, role, ...(ttl && { ttl }) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  };
  const whoami = (token: string) => b.call<{ name?: string; expires_at?: string | null; error?: { code: string } }>("GET", "/v1/admin/whoami", { token });

  it("a token with a ttl works until its expiry and is refused with 401 from that instant, audited", async () => {
    const start = now;
    const { token, expires_at } = await create("temp-auditor", "auditor", "2h");
    expect(expires_at).toBe(new Date(start + 2 * HOUR).toISOString());
    now = start + 2 * HOUR - 1;
    expect((await whoami(token)).status).toBe(200);
    expect((await b.call("GET", "/v1/audit/events?limit=1", { token })).status).toBe(200);
    now = start + 2 * HOUR;
    const refused = await whoami(token);
    expect(refused.status).toBe(401);
    expect(refused.body.error?.code).toBe("unauthorized");
    expect((await b.call("GET", "/v1/audit/events?limit=1", { token })).status).toBe(401);
    const records = await b.broker.store.queryAudit({ action: "auth.verify", actor: "temp-auditor", limit: 10 });
    expect(records.map((r) => [r.outcome, r.reason])).toContainEqual(["denied", "operator_token_expired"]);
  });

  it("a token without a ttl does not expire", async () => {
    const { token, expires_at } = await create("forever", "auditor");
    expect(expires_at).toBeNull();
    now += 400 * 24 * HOUR;
    const me = await whoami(token);
    expect(me.status).toBe(200);
    expect(me.body.expires_at).toBeNull();
  });

  it.each([["0s"], ["30s"], ["367d"], ["soon"], ["1h30"]])("refuses the ttl %s with 400", async (ttl) => {
    const refused = await b.admin<{ error: { code: string } }>("POST", "/v1/admin/operators", { name: "bad-ttl", role: "auditor", ttl });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("invalid_request");
    expect((await b.admin<{ operators: Array<{ name: string }> }>("GET", "/v1/admin/operators")).body.operators.map((o) => o.name)).not.toContain("bad-ttl");
  });

  it("rotation: the new token works, the old one is refused at once; the expiry stays unless a ttl is given", async () => {
    const { token: old, expires_at } = await create("rotating", "security", "30d");
    const rotated = await b.admin<{ name: string; token: string; expires_at: string | null }>("POST", "/v1/admin/operators/rotating/rotate");
    expect(rotated.status).toBe(200);
    expect(rotated.body.token).not.toBe(old);
    expect(rotated.body.expires_at).toBe(expires_at);
    expect((await whoami(old)).status).toBe(401);
    expect((await whoami(rotated.body.token)).body.name).toBe("rotating");

    const longer = await b.admin<{ token: string; expires_at: string }>("POST", "/v1/admin/operators/rotating/rotate", { ttl: "90d" });
    expect(longer.body.expires_at).toBe(new Date(now + 90 * 24 * HOUR).toISOString());
    expect((await whoami(rotated.body.token)).status).toBe(401);
    const records = await b.broker.store.queryAudit({ action: "admin.operator.rotate", resource: "rotating", limit: 10 });
    expect(records).toHaveLength(2);
    for (const record of records) expect(JSON.stringify(record)).not.toContain(longer.body.token);
  });

  it("an expired operator is rotated only with a new ttl; a revoked or unknown one is not found", async () => {
    const { token } = await create("lapsed", "auditor", "1h");
    now += 2 * HOUR;
    const refused = await b.admin<{ error: { code: string } }>("POST", "/v1/admin/operators/lapsed/rotate");
    expect([refused.status, refused.body.error.code]).toEqual([400, "invalid_request"]);
    const renewed = await b.admin<{ token: string }>("POST", "/v1/admin/operators/lapsed/rotate", { ttl: "1h" });
    expect(renewed.status).toBe(200);
    expect((await whoami(renewed.body.token)).status).toBe(200);
    expect((await whoami(token)).status).toBe(401);
    expect((await b.admin("DELETE", "/v1/admin/operators/lapsed")).status).toBe(204);
    expect((await b.admin("POST", "/v1/admin/operators/lapsed/rotate", { ttl: "1h" })).status).toBe(404);
    expect((await b.admin("POST", "/v1/admin/operators/nobody/rotate")).status).toBe(404);
  });

  it("only an operator with the operators permission rotates tokens", async () => {
    const { token } = await create("sec-rotator", "security");
    const refused = await b.admin<{ error: { code: string } }>("POST", "/v1/admin/operators/forever/rotate", undefined, token);
    expect([refused.status, refused.body.error.code]).toEqual([403, "forbidden"]);
  });

  it("whoami names the caller, its role's permissions and its expiry, for any role", async () => {
    const { token } = await create("who-auditor", "auditor", "1d");
    const me = await b.call<{ name: string; role: string; permissions: string[]; expires_at: string }>("GET", "/v1/admin/whoami", { token });
    expect(me.body).toMatchObject({ name: "who-auditor", role: "auditor", permissions: ["audit"], expires_at: new Date(now + 24 * HOUR).toISOString() });
    expect((await b.call("GET", "/v1/admin/whoami", { token: "cbo_" + "x".repeat(43) })).status).toBe(401);
    expect((await b.call("GET", "/v1/admin/whoami")).status).toBe(401);
  });
});
