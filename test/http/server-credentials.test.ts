/**
 * Managing a server's credentials is the power to read what it reads: only the `credentials`
 * permission (admin by default) registers a server or rotates or adds its credentials, a key
 * replacing the credentials leaves no old secret working, and a key added beside them is announced.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrokerEvent } from "../../src/events/bus.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  victim-mcp:
    allow:
      - secrets: ["victim/**"]
        actions: [read]
  unregistered-mcp:
    allow:
      - secrets: ["victim/**"]
        actions: [read]
`;

async function publicKey(kid?: string) {
  const { publicKey: key } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  return { ...(await exportJWK(key)), ...(kid && { kid }) };
}

describe("server credentials", () => {
  let b: TestBroker;
  let developerToken: string;
  const events: BrokerEvent[] = [];

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY });
    await b.putSecret("victim/token", testSecret("victim"));
    const created = await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "dev1", role: "developer" });
    developerToken = created.body.token;
    b.broker.deps.events.subscribe((event) => events.push(event));
  });
  afterAll(() => b.close());

  async function refusalRecords() {
    return (await b.broker.store.queryAudit({ limit: 1_000_000 })).filter((r) => r.action === "auth.verify" && r.outcome === "denied" && /lacks credentials/.test(r.reason));
  }

  it.each([
    ["registers a server a policy names but nobody registered", "/v1/admin/servers", { id: "unregistered-mcp" }],
    ["rotates a registered server's client secret", "/v1/admin/servers/victim-mcp/rotate-credentials", {}],
    ["adds its own public key to a registered server", "/v1/admin/servers/victim-mcp/rotate-credentials", { public_jwk: "KEY", mode: "add" }],
  ])("a developer-role operator that %s gets 403, audited", async (_label, path, body) => {
    if (path === "/v1/admin/servers" && (await b.admin("GET", "/v1/admin/servers/victim-mcp")).status === 404) await b.registerServer("victim-mcp");
    const payload = (body as { public_jwk?: unknown }).public_jwk ? { ...body, public_jwk: await publicKey() } : body;
    const before = (await refusalRecords()).length;
    const response = await b.admin<{ error: { code: string } }>("POST", path, payload, developerToken);
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("forbidden");
    expect((await refusalRecords()).length).toBe(before + 1);
    expect((await b.admin("GET", "/v1/admin/servers/unregistered-mcp")).status).toBe(404);
  });

  it("the developer role keeps listing servers", async () => {
    expect((await b.admin("GET", "/v1/admin/servers", undefined, developerToken)).status).toBe(200);
  });

  it("a policy file may give a role the credentials permission", async () => {
    b.writePolicy("roles.yaml", "roles:\n  onboarding: [credentials]\n");
    const created = await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "onboard1", role: "onboarding" });
    expect(created.status).toBe(201);
    expect((await b.admin("POST", "/v1/admin/servers", { id: "onboarded-mcp" }, created.body.token)).status).toBe(201);
  });

  it("replacing with a public key (the default mode) leaves neither the old secret nor its tokens working", async () => {
    const secret = await b.registerServer("replaced-mcp");
    const token = await b.serverToken("replaced-mcp", secret);
    const key = await publicKey("replacement-1");
    const rotated = await b.admin<{ client_secret: string | null }>("POST", "/v1/admin/servers/replaced-mcp/rotate-credentials", { public_jwk: key });
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).toBeNull();
    await expect(b.serverToken("replaced-mcp", secret)).rejects.toThrow(/401/);
    expect((await b.call("GET", "/v1/secrets/victim/token", { token })).status).toBe(401);
  });

  it("adding a public key keeps the old secret, and announces the key in the audit and on the bus", async () => {
    const secret = await b.registerServer("rollover-mcp");
    const key = await publicKey("rollover-2");
    const thumbprint = await calculateJwkThumbprint(key, "sha256");
    const added = await b.admin<{ client_secret: string | null }>("POST", "/v1/admin/servers/rollover-mcp/rotate-credentials", { public_jwk: key, mode: "add" });
    expect(added.status).toBe(200);
    expect(await b.serverToken("rollover-mcp", secret)).toBeTruthy();
    const records = (await b.broker.store.queryAudit({ limit: 1_000_000 })).filter((r) => r.action === "admin.server.rotate_credentials" && r.resource === "rollover-mcp");
    expect(records).toHaveLength(1);
    expect(records[0]!.reason).toContain(thumbprint);
    expect(records[0]!.reason).toContain("rollover-2");
    expect(JSON.stringify(records[0])).not.toContain(key.x);
    expect(events).toContainEqual({ type: "server.key_added", server: "rollover-mcp", kid: "rollover-2", thumbprint, id: expect.any(Number), time: expect.any(String) });
  });

  it("registering with a public key announces it too", async () => {
    const key = await publicKey();
    const thumbprint = await calculateJwkThumbprint(key, "sha256");
    await b.registerServer("keyed-mcp", { public_jwk: key, no_secret: true });
    expect(events).toContainEqual(expect.objectContaining({ type: "server.key_added", server: "keyed-mcp", kid: null, thumbprint }));
  });

  it("mode add without a public key is a 400", async () => {
    await b.registerServer("nokey-mcp");
    const response = await b.admin<{ error: { code: string } }>("POST", "/v1/admin/servers/nokey-mcp/rotate-credentials", { mode: "add" });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("invalid_request");
  });
});
