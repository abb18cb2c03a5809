/**
 * Dynamic credentials through the broker API: each read issues a fresh Vault database-engine
 * credential whose Vault lease is the broker lease's twin — renewed and revoked together.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  analytics-mcp:
    allow:
      - secrets: ["db/*"]
        actions: [read]
        max_ttl: 1h
`;

interface Issued {
  value: string;
  lease_id: string;
  lease_ttl: number;
  renewable: boolean;
}

describe("dynamic credentials from a Vault database engine", () => {
  let vault: VaultTestServer;
  let b: TestBroker;
  let token: string;

  beforeAll(async () => {
    vault = await startVaultTestServer();
    vault.addDatabaseRole("analytics-ro", { defaultTtlSeconds: 300, maxTtlSeconds: 3600 });
    const { token: vaultToken } = vault.createToken({
      rules: [
        { path: "database/creds/*", capabilities: ["read"] },
        { path: "sys/leases/renew", capabilities: ["update"] },
        { path: "sys/leases/revoke", capabilities: ["update"] },
      ],
    });
    process.env.CB_TEST_DYNAMIC_TOKEN = vaultToken;
    b = await startTestBroker({
      policy: POLICY,
      config: {
        lease: { default_ttl: "10m", max_ttl: "1h" },
        mounts: [{ path: "db/", backend: "vault", address: vault.url, auth: { token_env: "CB_TEST_DYNAMIC_TOKEN" }, engine: "dynamic", timeout: "2s" }],
      },
    });
    token = await b.serverToken("analytics-mcp", await b.registerServer("analytics-mcp"));
  });
  afterAll(async () => {
    await b.close();
    await vault.close();
  });

  it("issues a fresh credential per read, each with its own Vault lease", async () => {
    const first = await b.call<Issued>("GET", "/v1/secrets/db/analytics-ro%23username", { token });
    const second = await b.call<Issued>("GET", "/v1/secrets/db/analytics-ro%23username", { token });
    expect(first.status).toBe(200);
    expect(first.body.value).toMatch(/^v-/);
    expect(second.body.value).not.toBe(first.body.value);
    expect(first.body.lease_ttl).toBe(600);
    expect(vault.activeLeases()).toHaveLength(2);
  });

  it("renews the Vault lease with the broker lease, and revoking the broker lease destroys the credential", async () => {
    const { body } = await b.call<Issued>("GET", "/v1/secrets/db/analytics-ro", { token });
    const stored = await b.broker.store.getLease(body.lease_id);
    expect(stored?.externalLeaseId).toMatch(/^database\/creds\/analytics-ro\//);

    const renew = await b.call<{ lease_ttl: number }>("POST", `/v1/leases/${body.lease_id}/renew`, { token, body: { increment: 300 } });
    expect(renew.status).toBe(200);
    const vaultLease = vault.activeLeases().find((lease) => lease.leaseId === stored!.externalLeaseId);
    expect(vaultLease?.ttlSeconds).toBe(300);

    const revoke = await b.admin<{ revoked: number }>("POST", "/v1/admin/leases/revoke", { lease_id: body.lease_id });
    expect(revoke.body.revoked).toBe(1);
    expect(vault.revokedLeases().map((lease) => lease.leaseId)).toContain(stored!.externalLeaseId);
  });

  it("disabling the server destroys every credential it holds", async () => {
    const before = vault.activeLeases().length;
    expect(before).toBeGreaterThan(0);
    await b.admin("POST", "/v1/admin/servers/analytics-mcp/disable");
    expect(vault.activeLeases()).toHaveLength(0);
  });
});
