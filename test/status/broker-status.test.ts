/**
 * GET /v1/admin/status tells any operator what the broker runs on, and nothing that could be
 * used against it: storage kind (never the connection string and its password), mounts with
 * their backend kind and health (never an address), and the policy set's digest and counts.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const POLICY = `
servers:
  status-mcp:
    allow:
      - secrets: ["app/*"]
        actions: [read]
`;

interface Status {
  version: string;
  storage: string;
  uptime_seconds: number;
  mounts: Array<{ path: string; backend: string; healthy: boolean; error: string | null }>;
  policy: { digest: string; files: number; servers: number; roles: number };
}

describePostgres("broker status on PostgreSQL with a Vault mount", () => {
  const DB_PASSWORD = "status-db-pw-7c1e";
  let schema: TestSchema;
  let vault: VaultTestServer;
  let b: TestBroker;
  let now = Date.parse("2026-03-01T12:00:00Z");

  beforeAll(async () => {
    schema = await createTestSchema("status");
    vault = await startVaultTestServer();
    process.env.CB_STATUS_VAULT_TOKEN = vault.rootToken;
    const url = new URL(schema.url);
    // Trust authentication ignores it; the broker must still never show it.
    url.password = DB_PASSWORD;
    b = await startTestBroker({
      policy: POLICY,
      clock: () => now,
      config: { database: url.toString(), mounts: [{ path: "kv/", backend: "vault", address: vault.url, kv_mount: "secret", auth: { token_env: "CB_STATUS_VAULT_TOKEN" }, timeout: "1s" }] },
    });
  });
  afterAll(async () => {
    await b?.close();
    await vault?.close().catch(() => undefined);
    await schema?.drop();
  });

  it("reports version, storage kind, uptime, each mount's backend and health, the policy set", async () => {
    now += 3_725_000;
    const { token } = (await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "status-auditor", role: "auditor" })).body;
    const answer = await b.call<Status>("GET", "/v1/admin/status", { token });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ version: "0.1.0", storage: "postgres", uptime_seconds: 3725 });
    expect(answer.body.mounts).toEqual([
      { path: "", backend: "local", healthy: true, error: null },
      { path: "kv/", backend: "vault", healthy: true, error: null },
    ]);
    expect(answer.body.policy).toEqual({ digest: b.broker.policy.current().digest, files: 1, servers: 1, roles: b.broker.policy.current().roles.size });
    const text = JSON.stringify(answer.body);
    for (const hidden of [DB_PASSWORD, vault.url, String(new URL(vault.url).port), vault.rootToken, "127.0.0.1"]) expect(text).not.toContain(hidden);
  });

  it("a backend that is down is reported unhealthy, without its address", async () => {
    await vault.close();
    const answer = await b.call<Status>("GET", "/v1/admin/status", { token: b.adminToken });
    expect(answer.status).toBe(200);
    const kv = answer.body.mounts.find((mount) => mount.path === "kv/");
    expect(kv).toMatchObject({ backend: "vault", healthy: false });
    expect(kv?.error).toMatch(/kv\//);
    expect(JSON.stringify(answer.body)).not.toContain(vault.url);
  });
});
