/**
 * The vault backend beyond the shared contract: path mapping, auth (token from env or file,
 * AppRole) and token upkeep on a shared frozen clock, Vault's error shapes, the circuit breaker,
 * the cache, metrics, and dynamic credentials. Real node-vault, real HTTP, in-repo Vault server.
 */
import { afterEach, describe, expect, it } from "vitest";
import { isDynamic, isWritable, type DynamicBackend, type SecretBackend, type WritableBackend } from "../../src/backends/backend.js";
import { startVaultTestServer, type VaultPathRule, type VaultTestServer } from "../servers/vault-server.js";
import { json, memoryLogger, metricValue, rejection, sharedClock, testMounts, testSecret, type MountInput, type TestMounts } from "./helpers.js";

const KV_RULES = [
  { path: "secret/data/*", capabilities: ["create", "read", "update"] },
  { path: "secret/metadata/*", capabilities: ["read", "list", "delete"] },
] as const;

let server: VaultTestServer | undefined;
let mounts: TestMounts | undefined;

afterEach(async () => {
  await mounts?.close();
  await server?.close();
  mounts = undefined;
  server = undefined;
});

function writable(backend: SecretBackend): WritableBackend {
  if (!isWritable(backend)) throw new Error("expected a writable backend");
  return backend;
}

function dynamic(backend: SecretBackend): DynamicBackend {
  if (!isDynamic(backend)) throw new Error("expected a dynamic backend");
  return backend;
}

async function setup(mount: Partial<Extract<MountInput, { backend: "vault" }>>, options: Parameters<typeof testMounts>[1] = {}) {
  server = await startVaultTestServer();
  const entry: MountInput = { path: "kv/", backend: "vault", address: server.url, auth: { token_env: "VAULT_TOKEN" }, timeout: "500ms", ...mount };
  mounts = await testMounts([entry], { env: { VAULT_TOKEN: server.rootToken }, ...options });
  return { server, mounts, backend: mounts.table.resolve(`${entry.path}x`).backend };
}

const dataRequests = (vault: VaultTestServer) => vault.requests().filter((request) => !request.path.startsWith("/v1/auth/"));

describe("vault backend: KV v2 and path mapping", () => {
  it("maps a broker path through the mount onto kv_mount: kv/app → team/data/app", async () => {
    const { server: vault, mounts: table } = await setup({ kv_mount: "team" });
    vault.addKvMount("team");
    const password = testSecret("kv");
    vault.kvPut("app/db", { password }, { mount: "team" });
    const { backend, location } = table.table.resolve("kv/app/db");
    expect(location).toBe("app/db");
    expect(json((await backend.read(location))?.bytes)).toEqual({ password });
    expect(dataRequests(vault).map((request) => `${request.method} ${request.path}`)).toEqual(["GET /v1/team/data/app/db"]);
  });

  it("returns the KV map as JSON text and insists on a JSON object when writing", async () => {
    const { backend } = await setup({});
    const kv = writable(backend);
    const version = await kv.write("app", Buffer.from('{"token":"t1","nested":{"a":1}}'), { createdBy: "op" });
    expect(version).toBe(1);
    expect(json((await kv.read("app"))?.bytes)).toEqual({ token: "t1", nested: { a: 1 } });
    for (const bad of ["plain text", "[1,2]", "null", "42"]) {
      expect((await rejection(kv.write("app", Buffer.from(bad), { createdBy: "op" }))).code).toBe("invalid_request");
    }
  });

  it("treats soft-deleted and destroyed versions as gone", async () => {
    const { server: vault, backend } = await setup({});
    const kv = writable(backend);
    vault.kvPut("app", { v: "1" });
    vault.kvPut("app", { v: "2" });
    const root = (await import("node-vault")).default({ endpoint: vault.url, token: vault.rootToken });
    await root.delete("secret/data/app");
    await root.write("secret/destroy/app", { versions: [1] });
    expect(await kv.read("app")).toBeUndefined();
    expect(await kv.read("app", 1)).toBeUndefined();
    expect((await kv.versions("app")).map((entry) => [entry.version, entry.destroyed])).toEqual([
      [1, true],
      [2, true],
    ]);
  });
});

describe("vault backend: errors", () => {
  it("answers a 403 with `forbidden` naming the mount, while a missing secret in an allowed area is undefined", async () => {
    const vault = await startVaultTestServer();
    server = vault;
    const { token } = vault.createToken({ rules: [{ path: "secret/data/app/*", capabilities: ["read"] }] });
    mounts = await testMounts([{ path: "kv/", backend: "vault", address: vault.url, auth: { token_env: "T" } }], { env: { T: token } });
    const backend = mounts.table.resolve("kv/x").backend;
    expect(await backend.read("app/missing")).toBeUndefined();
    const error = await rejection(backend.read("other/db"));
    expect(error).toMatchObject({ code: "forbidden", status: 403 });
    expect(error.message).toBe("backend kv/ refused the broker access to other/db (Vault: permission denied)");
  });

  it("answers a sealed Vault with 503 `backend_unavailable` naming the mount, and fails readiness", async () => {
    const { server: vault, backend } = await setup({});
    vault.kvPut("app", { a: "1" });
    vault.seal();
    const error = await rejection(backend.read("app"));
    expect(error).toMatchObject({ code: "backend_unavailable", status: 503, message: "backend kv/ is unavailable (Vault is sealed)" });
    await expect(backend.checkHealth()).rejects.toMatchObject({ code: "backend_unavailable", message: "backend kv/ is unavailable (Vault is sealed)" });
    vault.unseal();
    await expect(backend.checkHealth()).resolves.toBeUndefined();
  });

  it("answers a Vault 5xx with 503 and a connection reset with 503, never with Vault's own words", async () => {
    const { server: vault, backend } = await setup({});
    vault.kvPut("app", { a: "1" });
    vault.injectFault({ pathPrefix: "secret/data/", status: 500, errors: ["internal error: something private"] });
    const error = await rejection(backend.read("app"));
    expect(error).toMatchObject({ code: "backend_unavailable", message: "backend kv/ is unavailable (Vault answered 500)" });
    await vault.setDown("reset");
    expect((await rejection(backend.read("app2"))).code).toBe("backend_unavailable");
  });
});

describe("vault backend: auth and token upkeep", () => {
  it("reads the token from a file", async () => {
    const vault = await startVaultTestServer();
    server = vault;
    vault.kvPut("app", { a: "1" });
    mounts = await testMounts([{ path: "kv/", backend: "vault", address: vault.url, auth: { token_file: "/run/vault/token" } }], {
      files: { "/run/vault/token": `${vault.rootToken}\n` },
    });
    expect(json((await mounts.table.resolve("kv/app").backend.read("app"))?.bytes)).toEqual({ a: "1" });
  });

  it("refuses to start when the named token variable is not set, naming the mount and the variable", async () => {
    const vault = await startVaultTestServer();
    server = vault;
    const error = await rejection(testMounts([{ path: "kv/", backend: "vault", address: vault.url, auth: { token_env: "NOPE" } }], { env: {} }));
    expect(error).toMatchObject({ code: "invalid_request", message: "mount kv/: environment variable NOPE (auth.token_env) is not set" });
  });

  it("logs in with AppRole, renews at 2/3 of the TTL, and logs in again when the max TTL caps renewal", async () => {
    const clock = sharedClock();
    const vault = await startVaultTestServer({ now: clock.now });
    server = vault;
    vault.kvPut("app", { a: "1" });
    const { roleId, secretId } = vault.addAppRole("broker", { rules: [...KV_RULES], tokenTtlSeconds: 600, tokenMaxTtlSeconds: 1000 });
    const { logger, lines } = memoryLogger();
    mounts = await testMounts(
      [{ path: "kv/", backend: "vault", address: vault.url, auth: { approle: { role_id_env: "ROLE_ID", secret_id_file: "/run/secret-id" } }, cache: { max_entries: 0 } }],
      { env: { ROLE_ID: roleId }, files: { "/run/secret-id": secretId }, clock: clock.now, logger },
    );
    const backend = mounts.table.resolve("kv/app").backend;
    const authCalls = () => vault.requests().filter((request) => request.path.startsWith("/v1/auth/")).map((request) => request.path);

    await backend.read("app");
    expect(authCalls()).toEqual(["/v1/auth/approle/login"]);
    clock.advance(399);
    await backend.read("app");
    expect(authCalls()).toEqual(["/v1/auth/approle/login"]);
    clock.advance(2); // 401 s: past 2/3 of 600
    await backend.read("app");
    expect(authCalls()).toEqual(["/v1/auth/approle/login", "/v1/auth/token/renew-self"]);
    // Renewed at 401 s: capped to 599 s by the 1000 s max TTL, so the next step is a new login.
    clock.advance(420);
    await backend.read("app");
    expect(authCalls()).toEqual(["/v1/auth/approle/login", "/v1/auth/token/renew-self", "/v1/auth/approle/login"]);
    const logged = lines.join("\n");
    expect(logged).toContain("logged in to vault");
    expect(logged).not.toMatch(/hvs\.[A-Za-z0-9]{10,}/);
    expect(logged).not.toContain(secretId);
  });

  it("logs in again when Vault refuses the renewal (the token expired while the broker was idle)", async () => {
    const clock = sharedClock();
    const vault = await startVaultTestServer({ now: clock.now });
    server = vault;
    vault.kvPut("app", { a: "1" });
    const { roleId, secretId } = vault.addAppRole("broker", { rules: [...KV_RULES], tokenTtlSeconds: 600 });
    mounts = await testMounts(
      [{ path: "kv/", backend: "vault", address: vault.url, auth: { approle: { role_id_env: "R", secret_id_env: "S" } }, cache: { max_entries: 0 } }],
      { env: { R: roleId, S: secretId }, clock: clock.now },
    );
    const backend = mounts.table.resolve("kv/app").backend;
    await backend.read("app");
    clock.advance(700);
    expect(json((await backend.read("app"))?.bytes)).toEqual({ a: "1" });
    expect(vault.requests().map((request) => `${request.path} ${request.status}`)).toEqual([
      "/v1/auth/approle/login 200",
      "/v1/secret/data/app 200",
      "/v1/auth/token/renew-self 403",
      "/v1/auth/approle/login 200",
      "/v1/secret/data/app 200",
    ]);
  });

  it("renews a renewable static token with renew-self", async () => {
    const clock = sharedClock();
    const vault = await startVaultTestServer({ now: clock.now });
    server = vault;
    vault.kvPut("app", { a: "1" });
    const { token } = vault.createToken({ rules: [...KV_RULES], ttlSeconds: 900 });
    mounts = await testMounts([{ path: "kv/", backend: "vault", address: vault.url, auth: { token_env: "T" }, cache: { max_entries: 0 } }], {
      env: { T: token },
      clock: clock.now,
    });
    const backend = mounts.table.resolve("kv/app").backend;
    await backend.read("app");
    clock.advance(601);
    await backend.read("app");
    expect(vault.lookupToken(token)?.ttlSeconds).toBe(900);
    expect(vault.requests().map((request) => request.path)).toContain("/v1/auth/token/renew-self");
  });

  it("picks up a replaced token file when Vault no longer knows the old token", async () => {
    const vault = await startVaultTestServer();
    server = vault;
    vault.kvPut("app", { a: "1" });
    const first = vault.createToken({ rules: [...KV_RULES] }).token;
    const files: Record<string, string> = { "/run/token": first };
    mounts = await testMounts([{ path: "kv/", backend: "vault", address: vault.url, auth: { token_file: "/run/token" }, cache: { max_entries: 0 } }], { files });
    const backend = mounts.table.resolve("kv/app").backend;
    await backend.read("app");
    vault.revokeToken(first);
    files["/run/token"] = vault.createToken({ rules: [...KV_RULES] }).token;
    expect(json((await backend.read("app"))?.bytes)).toEqual({ a: "1" });
  });
});

describe("vault backend: circuit breaker, cache, metrics", () => {
  it("opens the circuit after N consecutive failures, fails fast without calling Vault, and closes after a good probe", async () => {
    const clock = sharedClock();
    const { server: vault, mounts: table, backend } = await setup({ circuit_breaker: { failure_threshold: 2, cooldown: "30s" } }, { clock: clock.now });
    vault.kvPut("app", { a: "1" });
    await backend.read("app");
    table.table.invalidate();
    vault.injectFault({ pathPrefix: "secret/data/", status: 503, errors: ["Vault is sealed"], times: Infinity });
    await rejection(backend.read("app"));
    await rejection(backend.read("app"));
    const before = vault.requests().length;
    const fast = await rejection(backend.read("app"));
    expect(fast).toMatchObject({ code: "backend_unavailable", status: 503, retryAfterSeconds: 30 });
    expect(fast.message).toBe("backend kv/ is unavailable (circuit open after repeated failures; retry in 30 s)");
    expect(vault.requests().length).toBe(before);
    expect(await metricValue(table.registry, "credbroker_backend_circuit_state", { mount: "kv/" })).toBe(2);
    expect(await metricValue(table.registry, "credbroker_backend_errors_total", { mount: "kv/", reason: "circuit_open" })).toBe(1);

    vault.clearFaults();
    clock.advance(30);
    expect(json((await backend.read("app"))?.bytes)).toEqual({ a: "1" });
    expect(await metricValue(table.registry, "credbroker_backend_circuit_state", { mount: "kv/" })).toBe(0);
  });

  it("does not count a 403 or a 404 against the circuit: Vault answered", async () => {
    const vault = await startVaultTestServer();
    server = vault;
    const { token } = vault.createToken({ rules: [{ path: "secret/data/app/*", capabilities: ["read"] }] });
    mounts = await testMounts([{ path: "kv/", backend: "vault", address: vault.url, auth: { token_env: "T" }, circuit_breaker: { failure_threshold: 1 } }], {
      env: { T: token },
    });
    const backend = mounts.table.resolve("kv/x").backend;
    await rejection(backend.read("other"));
    expect(await backend.read("app/missing")).toBeUndefined();
    expect((await rejection(backend.read("other"))).code).toBe("forbidden");
  });

  it("serves repeated reads from the cache until a write or an explicit invalidation", async () => {
    const { server: vault, mounts: table, backend } = await setup({});
    const kv = writable(backend);
    vault.kvPut("app", { v: "1" });
    await kv.read("app");
    await kv.read("app");
    expect(dataRequests(vault)).toHaveLength(1);
    await kv.write("app", Buffer.from('{"v":"2"}'), { createdBy: "op" });
    expect(json((await kv.read("app"))?.bytes)).toEqual({ v: "2" });
    vault.kvPut("app", { v: "3" });
    expect(json((await kv.read("app"))?.bytes)).toEqual({ v: "2" });
    table.table.invalidate("kv/app");
    expect(json((await kv.read("app"))?.bytes)).toEqual({ v: "3" });
    expect(await metricValue(table.registry, "credbroker_backend_cache_total", { mount: "kv/", result: "hit" })).toBe(2);
  });

  it("records latency by mount, operation and outcome", async () => {
    const { server: vault, mounts: table, backend } = await setup({});
    vault.kvPut("app", { v: "1" });
    await backend.read("app");
    vault.seal();
    await rejection(backend.read("other"));
    expect(await metricValue(table.registry, "credbroker_backend_request_duration_seconds_count", { mount: "kv/", operation: "read", outcome: "ok" })).toBe(1);
    expect(await metricValue(table.registry, "credbroker_backend_request_duration_seconds_count", { mount: "kv/", operation: "read", outcome: "unavailable" })).toBe(1);
    expect(await metricValue(table.registry, "credbroker_backend_errors_total", { mount: "kv/", operation: "read", reason: "unavailable" })).toBe(1);
  });
});

describe("vault backend: dynamic credentials (database engine)", () => {
  async function setupDynamic(
    rules: VaultPathRule[] = [
      { path: "database/creds/*", capabilities: ["read"] },
      { path: "sys/leases/renew", capabilities: ["update"] },
      { path: "sys/leases/revoke", capabilities: ["update"] },
    ],
  ) {
    const vault = await startVaultTestServer();
    server = vault;
    vault.addDatabaseRole("readonly", { defaultTtlSeconds: 300, maxTtlSeconds: 900 });
    const { token } = vault.createToken({ rules });
    mounts = await testMounts([{ path: "db/", backend: "vault", address: vault.url, auth: { token_env: "T" }, engine: "dynamic" }], { env: { T: token } });
    return { vault, backend: dynamic(mounts.table.resolve("db/readonly").backend) };
  }

  it("issues a credential per lease, extended towards the asked TTL, and holds no static value", async () => {
    const { vault, backend } = await setupDynamic();
    const credential = await backend.issue("readonly", 600);
    expect(credential.externalLeaseId).toMatch(/^database\/creds\/readonly\//);
    expect(credential).toMatchObject({ ttlSeconds: 600, renewable: true });
    const data = json(credential.bytes) as { username: string; password: string };
    expect(data.username).toMatch(/^v-/);
    expect(vault.activeLeases().map((lease) => [lease.leaseId, lease.ttlSeconds])).toEqual([[credential.externalLeaseId, 600]]);

    const short = await backend.issue("readonly", 60);
    expect(short.ttlSeconds).toBe(300);
    expect(await backend.read("readonly")).toBeUndefined();
  });

  it("renews and revokes the Vault lease; revoking twice is fine; a gone lease is lease_expired", async () => {
    const { vault, backend } = await setupDynamic();
    const { externalLeaseId } = await backend.issue("readonly", 60);
    expect(await backend.renew(externalLeaseId, 120)).toEqual({ ttlSeconds: 120, renewable: true });
    await backend.revoke(externalLeaseId);
    expect(vault.revokedLeases()).toMatchObject([{ leaseId: externalLeaseId, reason: "revoked" }]);
    await backend.revoke(externalLeaseId);
    expect((await rejection(backend.renew(externalLeaseId, 60))).code).toBe("lease_expired");
  });

  it("refuses leases that are not its own, unknown roles, and names the mount when Vault forbids", async () => {
    const { backend } = await setupDynamic([{ path: "database/creds/*", capabilities: ["read"] }]);
    expect((await rejection(backend.renew("secret/other/abc", 60))).code).toBe("invalid_request");
    expect((await rejection(backend.issue("nope", 60))).code).toBe("not_found");
    const { externalLeaseId } = await backend.issue("readonly", 60);
    const error = await rejection(backend.revoke(externalLeaseId));
    expect(error).toMatchObject({ code: "forbidden", status: 403 });
    expect(error.message).toContain("db/");
  });
});
