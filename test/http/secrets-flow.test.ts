/** The embedded default end to end over real HTTP: register, grant by policy, token, read, lease, audit. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  github-mcp:
    allow:
      - secrets: ["github/token", "shared/**"]
        actions: [read]
        max_ttl: 1h
    deny:
      - secrets: ["github/admin/**"]
  analytics-mcp:
    allow:
      - secrets: ["db/*"]
        actions: [read]
        max_ttl: 10m
`;

interface Issued {
  value: string;
  version: number;
  lease_id: string;
  lease_ttl: number;
  renewable: boolean;
}

describe("reading secrets", () => {
  let b: TestBroker;
  let githubToken: string;
  const githubValue = testSecret("github");
  const sharedValue = testSecret("shared");

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY, config: { lease: { default_ttl: "5m", max_ttl: "2h" } } });
    const secret = await b.registerServer("github-mcp");
    await b.registerServer("analytics-mcp");
    await b.putSecret("github/token", githubValue);
    await b.putSecret("shared/config", JSON.stringify({ region: "eu", apiKey: sharedValue }));
    await b.putSecret("github/admin/root", testSecret("root"));
    githubToken = await b.serverToken("github-mcp", secret);
  });
  afterAll(() => b.close());

  it("returns a granted secret with its version and a lease", async () => {
    const { status, body } = await b.call<Issued>("GET", "/v1/secrets/github/token", { token: githubToken });
    expect(status).toBe(200);
    expect(body).toMatchObject({ value: githubValue, version: 1, lease_ttl: 300, renewable: true });
    expect(body.lease_id).toMatch(/^lease_/);
  });

  it("reads a batch in one round trip, selecting a #key of a JSON value", async () => {
    const { status, body } = await b.call<{ secrets: Record<string, Issued> }>("POST", "/v1/secrets/read", {
      token: githubToken,
      body: { names: ["github/token", "shared/config#apiKey"] },
    });
    expect(status).toBe(200);
    expect(body.secrets["github/token"]!.value).toBe(githubValue);
    expect(body.secrets["shared/config#apiKey"]!.value).toBe(sharedValue);
  });

  it("is all-or-nothing: one denied name denies the batch and names each denied secret and rule", async () => {
    const { status, body } = await b.call<{ error: { code: string; denied: Array<{ secret: string; reason: string; message: string }> } }>("POST", "/v1/secrets/read", {
      token: githubToken,
      body: { names: ["github/token", "github/admin/root", "db/analytics"] },
    });
    expect(status).toBe(403);
    expect(body.error.code).toBe("denied");
    expect(body.error.denied.map((d) => [d.secret, d.reason])).toEqual([
      ["github/admin/root", "explicit_deny"],
      ["db/analytics", "no_matching_rule"],
    ]);
    expect(body.error.denied[0]!.message).toMatch(/test\.yaml:\d+/);
    expect(JSON.stringify(body)).not.toContain(githubValue);
  });

  it("answers 404 naming a missing secret that policy allows", async () => {
    const { status, body } = await b.call<{ error: { code: string; missing: string[] } }>("POST", "/v1/secrets/read", { token: githubToken, body: { names: ["shared/nope"] } });
    expect(status).toBe(404);
    expect(body.error.missing).toEqual(["shared/nope"]);
  });

  it("serves the newest version after a write, without a new token", async () => {
    const next = testSecret("github-v2");
    expect(await b.putSecret("github/token", next)).toBe(2);
    const { body } = await b.call<Issued>("GET", "/v1/secrets/github/token", { token: githubToken });
    expect(body).toMatchObject({ value: next, version: 2 });
  });

  it("renews a lease up to its max ttl, then refuses a revoked lease", async () => {
    const { body: issued } = await b.call<Issued>("GET", "/v1/secrets/github/token", { token: githubToken });
    const renew = await b.call<{ lease_ttl: number; renewable: boolean }>("POST", `/v1/leases/${issued.lease_id}/renew`, { token: githubToken, body: { increment: 300 } });
    expect(renew.status).toBe(200);
    expect(renew.body.lease_ttl).toBeGreaterThan(290);

    const revoke = await b.admin("POST", "/v1/admin/leases/revoke", { lease_id: issued.lease_id });
    expect(revoke).toMatchObject({ status: 200, body: { revoked: 1 } });
    const again = await b.call<{ error: { code: string } }>("POST", `/v1/leases/${issued.lease_id}/renew`, { token: githubToken });
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe("lease_revoked");
  });

  it("hides another server's lease as not found", async () => {
    const { body: issued } = await b.call<Issued>("GET", "/v1/secrets/github/token", { token: githubToken });
    const analyticsSecret = (await b.admin<{ client_secret: string }>("POST", "/v1/admin/servers/analytics-mcp/rotate-credentials")).body.client_secret;
    const analyticsToken = await b.serverToken("analytics-mcp", analyticsSecret);
    const renew = await b.call<{ error: { code: string } }>("POST", `/v1/leases/${issued.lease_id}/renew`, { token: analyticsToken });
    expect(renew.status).toBe(404);
  });

  it("revokes every lease of a secret and of a server at once", async () => {
    await b.call("GET", "/v1/secrets/github/token", { token: githubToken });
    const bySecret = await b.admin<{ revoked: number }>("POST", "/v1/admin/leases/revoke", { secret: "github/token" });
    expect(bySecret.body.revoked).toBeGreaterThan(0);
    const list = await b.call<{ leases: Array<{ secret: string }> }>("GET", "/v1/leases", { token: githubToken });
    expect(list.body.leases.filter((l) => l.secret === "github/token")).toEqual([]);

    await b.call("GET", "/v1/secrets/shared/config", { token: githubToken });
    const byServer = await b.admin<{ revoked: number }>("POST", "/v1/admin/leases/revoke", { server: "github-mcp" });
    expect(byServer.body.revoked).toBeGreaterThan(0);
    expect((await b.call<{ leases: unknown[] }>("GET", "/v1/leases", { token: githubToken })).body.leases).toEqual([]);
  });

  it("applies a policy change on the next request, not at token expiry", async () => {
    b.writePolicy("test.yaml", POLICY.replace('"github/token", ', ""));
    const denied = await b.call("GET", "/v1/secrets/github/token", { token: githubToken });
    expect(denied.status).toBe(403);
    b.writePolicy("test.yaml", POLICY);
    expect((await b.call("GET", "/v1/secrets/github/token", { token: githubToken })).status).toBe(200);
  });

  it("reports who accessed a secret with counts and outcomes", async () => {
    const { body } = await b.admin<{ servers: Array<{ server: string; count: number; outcomes: { allowed: number; denied: number; error: number } }> }>("GET", "/v1/audit/access-report?secret=github/token");
    const github = body.servers.find((row) => row.server === "github-mcp")!;
    expect(github.outcomes.allowed).toBeGreaterThanOrEqual(5);
    expect(github.outcomes.denied).toBeGreaterThanOrEqual(1);
    expect(github.count).toBe(github.outcomes.allowed + github.outcomes.denied + github.outcomes.error);
  });

  it("disabling a server stops its unexpired token at once and revokes its leases", async () => {
    const secret = await b.registerServer("short-lived");
    b.writePolicy("short.yaml", `servers:\n  short-lived:\n    allow:\n      - secrets: ["shared/**"]\n        actions: [read]\n`);
    const token = await b.serverToken("short-lived", secret);
    expect((await b.call("GET", "/v1/secrets/shared/config", { token })).status).toBe(200);
    await b.admin("POST", "/v1/admin/servers/short-lived/disable");
    const after = await b.call<{ error: { code: string } }>("GET", "/v1/secrets/shared/config", { token });
    expect(after.status).toBe(401);
    expect((await b.admin<{ leases: unknown[] }>("GET", "/v1/admin/leases?server=short-lived")).body.leases).toEqual([]);
    const newToken = await b.call("POST", "/v1/auth/token", { body: { grant_type: "client_credentials", client_id: "short-lived", client_secret: secret } });
    expect(newToken.status).toBe(401);
  });

  it("deleting a secret revokes its leases at once", async () => {
    await b.putSecret("shared/doomed", testSecret("doomed"));
    const { body } = await b.call<Issued>("GET", "/v1/secrets/shared/doomed", { token: githubToken });
    expect((await b.admin("DELETE", "/v1/admin/secrets/shared/doomed")).status).toBe(204);
    const lease = await b.broker.store.getLease(body.lease_id);
    expect(lease?.revokeReason).toBe("secret deleted");
    expect((await b.call("GET", "/v1/secrets/shared/doomed", { token: githubToken })).status).toBe(404);
  });

  it("never puts a value into an audit record", async () => {
    const records = await b.broker.store.queryAudit({ limit: 10_000 });
    expect(records.length).toBeGreaterThan(10);
    expect(JSON.stringify(records)).not.toContain("s3cr3t-VALUE-");
  });
});
