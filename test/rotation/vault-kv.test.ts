/** vault-kv through the real node-vault client against the in-repo Vault server (KV v2). */
import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { isWritable } from "../../src/backends/backend.js";
import { rotationStrategies } from "../../src/rotation/registry.js";
import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";
import { json, testMounts, type TestMounts } from "../backends/helpers.js";
import { pendingValuesForTests, rotationStrategyContract } from "../contracts/rotation-strategy.contract.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

const INITIAL = { user: "app", password: "initial-value-0123456789" };

async function vaultMounts(server: VaultTestServer): Promise<TestMounts> {
  const mounts = await testMounts([{ path: "kv/", backend: "vault", address: server.url, auth: { token_env: "VAULT_TOKEN" }, timeout: "300ms" }], {
    env: { VAULT_TOKEN: server.rootToken },
  });
  await mounts.table.resolve("kv/app").backend.read("app"); // connects the session
  const backend = mounts.table.resolve("kv/app").backend;
  if (!isWritable(backend)) throw new Error("a vault mount is writable");
  await backend.write("app", Buffer.from(JSON.stringify(INITIAL)), { createdBy: "test" });
  return mounts;
}

const OPTIONS = "{ vault-kv: { keys: { password: { length: 40 } } } }";

rotationStrategyContract("vault-kv", async () => {
  const server = await startVaultTestServer();
  const mounts = await vaultMounts(server);
  const parts = { secretPath: "kv/app", mounts: mounts.table, options: optionsFromPolicy("vault-kv", OPTIONS), pending: pendingValuesForTests() };
  return {
    strategy: rotationStrategies["vault-kv"],
    context: (rotationId) => contextFor(parts, rotationId),
    accepts: async (value) => JSON.stringify(json((await mounts.table.resolve("kv/app").backend.read("app"))?.bytes)) === JSON.stringify(json(value)),
    async close() {
      await mounts.close();
      await server.close();
    },
  };
});

describe("vault-kv: edge cases", () => {
  let server: VaultTestServer;
  let mounts: TestMounts;
  beforeAll(async () => {
    server = await startVaultTestServer();
    mounts = await vaultMounts(server);
  });
  afterAll(async () => {
    await mounts.close();
    await server.close();
  });
  const parts = (secretPath = "kv/app") => ({ secretPath, mounts: mounts.table, options: optionsFromPolicy("vault-kv", OPTIONS), pending: pendingValuesForTests() });
  const strategy = rotationStrategies["vault-kv"];

  it("replaces only the rule's keys and copies the others", async () => {
    const p = parts();
    const rotationId = randomUUID();
    const before = json((await mounts.table.resolve("kv/app").backend.read("app"))!.bytes) as Record<string, string>;
    const created = await strategy.create(contextFor(p, rotationId));
    const tested = await strategy.test(contextFor(p, rotationId), await strategy.set(contextFor(p, rotationId), created));
    await strategy.finish(contextFor(p, rotationId), tested);
    const after = json((await mounts.table.resolve("kv/app").backend.read("app"))!.bytes) as Record<string, string>;
    expect(after["user"]).toBe(before["user"]);
    expect(after["password"]).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(after["password"]).not.toBe(before["password"]);
  });

  it("a version written by someone else during the rotation fails test with conflict", async () => {
    const p = parts();
    const rotationId = randomUUID();
    const created = await strategy.create(contextFor(p, rotationId));
    const backend = mounts.table.resolve("kv/app").backend;
    if (!isWritable(backend)) throw new Error("a vault mount is writable");
    await backend.write("app", Buffer.from(JSON.stringify({ ...INITIAL, extra: "added meanwhile" })), { createdBy: "test" });
    await expect(strategy.test(contextFor(p, rotationId), created)).rejects.toMatchObject({ code: "conflict" });
  });

  it("a path that is not on a Vault mount is refused with invalid_request", async () => {
    await mounts.local.write("local/app", Buffer.from("{}"), { createdBy: "test" });
    await expect(strategy.create(contextFor(parts("local/app"), randomUUID()))).rejects.toMatchObject({ code: "invalid_request", message: expect.stringContaining("on local mount local") });
  });

  it("a token Vault refuses for the path fails create with forbidden naming the mount", async () => {
    const { token } = server.createToken({ rules: [{ path: "secret/data/other/*", capabilities: ["read", "create", "update"] }] });
    const denied = await testMounts([{ path: "kv/", backend: "vault", address: server.url, auth: { token_env: "VAULT_TOKEN" } }], { env: { VAULT_TOKEN: token } });
    try {
      const p = { ...parts(), mounts: denied.table };
      await expect(strategy.create(contextFor(p, randomUUID()))).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("kv/") });
    } finally {
      await denied.close();
    }
  });

  it("Vault down fails create with backend_unavailable naming the mount", async () => {
    await server.setDown("refuse");
    try {
      await expect(strategy.create(contextFor(parts(), randomUUID()))).rejects.toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("kv/") });
    } finally {
      await server.setDown(false);
    }
  });
});
