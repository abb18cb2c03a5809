/**
 * DELETE /v1/admin/servers/{id}: what the deleted server held stops working at once (its token,
 * its client secret, its leases), the policy that still names it grants nothing, and registering
 * the id again brings none of it back: only the new credentials work.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  doomed-mcp:
    allow:
      - secrets: ["app/*"]
        actions: [read]
`;

describe("deleting a server", () => {
  let b: TestBroker;

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY });
    await b.putSecret("app/key", testSecret("delete"));
  });
  afterAll(() => b.close());

  const tokenStatus = async (clientSecret: string) =>
    (await b.call("POST", "/v1/auth/token", { body: { grant_type: "client_credentials", client_id: "doomed-mcp", client_secret: clientSecret } })).status;

  it("refuses its token, client secret and leases at once; a new registration starts afresh", async () => {
    const oldSecret = await b.registerServer("doomed-mcp");
    const oldToken = await b.serverToken("doomed-mcp", oldSecret);
    const read = await b.call<{ lease_id: string }>("GET", "/v1/secrets/app/key", { token: oldToken });
    expect(read.status).toBe(200);

    const deleted = await b.admin<{ id: string; deleted: boolean; leases_revoked: number; credentials_revoked: number }>("DELETE", "/v1/admin/servers/doomed-mcp");
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: "doomed-mcp", deleted: true, leases_revoked: 1, credentials_revoked: 1 });

    expect((await b.call("GET", "/v1/secrets/app/key", { token: oldToken })).status).toBe(401);
    expect(await tokenStatus(oldSecret)).toBe(401);
    const lease = (await b.admin<{ leases: Array<{ lease_id: string; state: string }> }>("GET", "/v1/admin/leases?server=doomed-mcp&all=true")).body.leases;
    expect(lease.map((l) => [l.lease_id, l.state])).toEqual([[read.body.lease_id, "revoked"]]);
    expect((await b.admin("GET", "/v1/admin/servers/doomed-mcp")).status).toBe(404);
    expect((await b.admin<{ servers: Array<{ id: string }> }>("GET", "/v1/admin/servers")).body.servers.map((s) => s.id)).not.toContain("doomed-mcp");
    expect((await b.admin("POST", "/v1/admin/servers/doomed-mcp/enable")).status).toBe(404);
    expect((await b.admin("DELETE", "/v1/admin/servers/doomed-mcp")).status).toBe(404);

    const records = await b.broker.store.queryAudit({ action: "admin.server.delete", limit: 10 });
    expect(records.map((r) => [r.actor, r.resource, r.outcome, r.reason])).toEqual([["admin", "doomed-mcp", "allowed", "1 lease(s) and 1 credential(s) revoked"]]);

    const newSecret = await b.registerServer("doomed-mcp");
    expect(await tokenStatus(oldSecret), "the old client secret stays dead").toBe(401);
    expect((await b.call("GET", "/v1/secrets/app/key", { token: oldToken })).status, "the old token stays dead").toBe(401);
    const newToken = await b.serverToken("doomed-mcp", newSecret);
    expect((await b.call("GET", "/v1/secrets/app/key", { token: newToken })).status).toBe(200);
  });

  it("needs the servers permission, and answers 404 for an unknown server", async () => {
    await b.registerServer("kept-mcp");
    const { token } = (await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "del-auditor", role: "auditor" })).body;
    expect((await b.admin("DELETE", "/v1/admin/servers/kept-mcp", undefined, token)).status).toBe(403);
    expect((await b.admin("GET", "/v1/admin/servers/kept-mcp")).status).toBe(200);
    expect((await b.admin<{ error: { code: string } }>("DELETE", "/v1/admin/servers/ghost-mcp")).body.error.code).toBe("not_found");
  });
});
