/**
 * Proves the Vault test server is faithful enough to test the vault backend through the real
 * node-vault client: every assertion goes over HTTP through node-vault, the way backend code will.
 */
import vault from "node-vault";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";

interface ApiError extends Error {
  response?: { statusCode: number; body: unknown };
  code?: string;
}

/** Runs a call expected to fail and returns the error (fails the test if it resolves). */
async function failure(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (error) {
    return error as ApiError;
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** A frozen base time: only `advanceClock` moves the server's clock, so TTL arithmetic is exact. */
const T0 = Date.parse("2030-01-01T00:00:00Z");

describe("Vault test server through node-vault", () => {
  let server: VaultTestServer;
  let root: vault.client;

  beforeEach(async () => {
    server = await startVaultTestServer({ now: () => T0 });
    root = vault({ apiVersion: "v1", endpoint: server.url, token: server.rootToken });
  });

  afterEach(async () => {
    await server.close();
  });

  describe("KV v2", () => {
    it("writes versions and reads the current one or a given one", async () => {
      const first = await root.write("secret/data/app/db", { data: { password: "one" } });
      expect(first.data).toMatchObject({ version: 1, deletion_time: "", destroyed: false });
      expect(Date.parse(first.data.created_time)).not.toBeNaN();
      await root.write("secret/data/app/db", { data: { password: "two" } });

      const current = await root.read("secret/data/app/db");
      expect(current).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, wrap_info: null, auth: null });
      expect(current.data.data).toEqual({ password: "two" });
      expect(current.data.metadata).toMatchObject({ version: 2, deletion_time: "", destroyed: false, custom_metadata: null });

      const old = await root.read("secret/data/app/db?version=1");
      expect(old.data.data).toEqual({ password: "one" });
      expect(old.data.metadata.version).toBe(1);
    });

    it("answers a missing secret with 404 and an empty errors list", async () => {
      const error = await failure(root.read("secret/data/nope"));
      expect(error.response?.statusCode).toBe(404);
      expect(error.response?.body).toEqual({ errors: [] });
    });

    it("answers a missing version with 404", async () => {
      server.kvPut("app/db", { password: "one" });
      const error = await failure(root.read("secret/data/app/db?version=7"));
      expect(error.response?.statusCode).toBe(404);
      expect(error.response?.body).toEqual({ errors: [] });
    });

    it("rejects a check-and-set mismatch with 400 and Vault's message", async () => {
      await root.write("secret/data/app/db", { data: { a: "1" }, options: { cas: 0 } });
      const error = await failure(root.write("secret/data/app/db", { data: { a: "2" }, options: { cas: 0 } }));
      expect(error.response?.statusCode).toBe(400);
      expect(error.message).toBe("check-and-set parameter did not match the current version");
      await root.write("secret/data/app/db", { data: { a: "2" }, options: { cas: 1 } });
    });

    it("patches the current version with a JSON merge patch (node-vault update)", async () => {
      server.kvPut("app/db", { username: "app", password: "one", extra: "x" });
      const patched = await root.update("secret/data/app/db", { data: { password: "two", extra: null } });
      expect(patched.data.version).toBe(2);
      expect((await root.read("secret/data/app/db")).data.data).toEqual({ username: "app", password: "two" });

      const { token } = server.createToken({ rules: [{ path: "secret/data/app/*", capabilities: ["read", "update"] }] });
      const noPatch = vault({ apiVersion: "v1", endpoint: server.url, token });
      expect((await failure(noPatch.update("secret/data/app/db", { data: { password: "3" } }))).response?.statusCode).toBe(403);
      expect((await failure(root.update("secret/data/app/missing", { data: { a: "1" } }))).response?.statusCode).toBe(404);
    });

    it("rejects a write without data", async () => {
      const error = await failure(root.write("secret/data/app/db", { options: {} }));
      expect(error.response?.statusCode).toBe(400);
      expect(error.message).toBe("no data provided");
    });

    it("soft-deletes the latest version: 404 whose body still carries the metadata", async () => {
      server.kvPut("app/db", { password: "one" });
      server.kvPut("app/db", { password: "two" });
      await root.delete("secret/data/app/db");

      const error = await failure(root.read("secret/data/app/db"));
      expect(error.response?.statusCode).toBe(404);
      const body = error.response?.body as { data: { data: unknown; metadata: { version: number; deletion_time: string } } };
      expect(body.data.data).toBeNull();
      expect(body.data.metadata.version).toBe(2);
      expect(Date.parse(body.data.metadata.deletion_time)).not.toBeNaN();
      expect((await root.read("secret/data/app/db?version=1")).data.data).toEqual({ password: "one" });
    });

    it("destroys versions and deletes all metadata", async () => {
      server.kvPut("app/db", { password: "one" });
      server.kvPut("app/db", { password: "two" });
      await root.write("secret/destroy/app/db", { versions: [1] });
      const destroyed = await failure(root.read("secret/data/app/db?version=1"));
      expect(destroyed.response?.statusCode).toBe(404);
      expect((destroyed.response?.body as { data: { metadata: { destroyed: boolean } } }).data.metadata.destroyed).toBe(true);

      const meta = await root.read("secret/metadata/app/db");
      expect(meta.data).toMatchObject({ current_version: 2, oldest_version: 0, max_versions: 0, cas_required: false });
      expect(meta.data.versions["1"].destroyed).toBe(true);
      expect(meta.data.versions["2"]).toMatchObject({ deletion_time: "", destroyed: false });

      await root.delete("secret/metadata/app/db");
      expect((await failure(root.read("secret/metadata/app/db"))).response?.statusCode).toBe(404);
      expect((await failure(root.read("secret/data/app/db"))).response?.statusCode).toBe(404);
    });

    it("keeps max_versions versions, sliding oldest_version", async () => {
      server.addKvMount("kv", { maxVersions: 2 });
      for (const n of [1, 2, 3]) await root.write("kv/data/x", { data: { n } });
      const meta = await root.read("kv/metadata/x");
      expect(Object.keys(meta.data.versions)).toEqual(["2", "3"]);
      expect(meta.data.oldest_version).toBe(2);
      expect((await failure(root.read("kv/data/x?version=1"))).response?.statusCode).toBe(404);
    });

    it("lists keys with LIST and with ?list=true, folders ending in /", async () => {
      server.kvPut("app/db", { a: "1" });
      server.kvPut("app/api/key", { a: "1" });
      server.kvPut("other", { a: "1" });

      expect((await root.list("secret/metadata/app")).data.keys).toEqual(["api/", "db"]);
      expect((await root.list("secret/metadata/")).data.keys).toEqual(["app/", "other"]);
      expect((await root.read("secret/metadata/app?list=true")).data.keys).toEqual(["api/", "db"]);
      const noVerbs = vault({ apiVersion: "v1", endpoint: server.url, token: server.rootToken, noCustomHTTPVerbs: true });
      expect((await noVerbs.list("secret/metadata/app/api")).data.keys).toEqual(["key"]);

      const empty = await failure(root.list("secret/metadata/nothing"));
      expect(empty.response?.statusCode).toBe(404);
      expect(empty.response?.body).toEqual({ errors: [] });
    });

    it("serves more than one KV mount", async () => {
      server.addKvMount("team");
      await root.write("team/data/a", { data: { v: "team" } });
      await root.write("secret/data/a", { data: { v: "secret" } });
      expect((await root.read("team/data/a")).data.data).toEqual({ v: "team" });
      expect((await root.read("secret/data/a")).data.data).toEqual({ v: "secret" });
    });

    it("answers a KV v1-style path on a v2 mount with 404 and Vault's warning", async () => {
      const error = await failure(root.read("secret/app/db"));
      expect(error.response?.statusCode).toBe(404);
      const body = error.response?.body as { warnings: string[]; data: unknown };
      expect(body.data).toBeNull();
      expect(body.warnings[0]).toMatch(/^Invalid path for a versioned K\/V secrets engine/);
    });
  });

  describe("auth and ACL", () => {
    it("answers a missing or unknown token with 403 permission denied", async () => {
      server.kvPut("app/db", { a: "1" });
      const anonymous = vault({ apiVersion: "v1", endpoint: server.url });
      const noToken = await failure(anonymous.read("secret/data/app/db"));
      expect(noToken.response?.statusCode).toBe(403);
      expect(noToken.response?.body).toEqual({ errors: ["permission denied"] });

      const bogus = vault({ apiVersion: "v1", endpoint: server.url, token: "hvs.not-a-token" });
      expect((await failure(bogus.read("secret/data/app/db"))).response?.statusCode).toBe(403);
    });

    it("answers a token lacking capability with 403, not 404, even for a missing secret", async () => {
      server.kvPut("app/db", { a: "1" });
      const { token } = server.createToken({
        rules: [
          { path: "secret/data/app/*", capabilities: ["read"] },
          { path: "secret/data/app/admin", capabilities: ["deny"] },
        ],
      });
      const client = vault({ apiVersion: "v1", endpoint: server.url, token });

      expect((await client.read("secret/data/app/db")).data.data).toEqual({ a: "1" });
      expect((await failure(client.read("secret/data/app/missing"))).response?.statusCode).toBe(404);

      const write = await failure(client.write("secret/data/app/db", { data: { a: "2" } }));
      expect(write.response?.statusCode).toBe(403);
      expect(write.message).toContain("permission denied");

      const otherPath = await failure(client.read("secret/data/elsewhere/missing"));
      expect(otherPath.response?.statusCode).toBe(403);
      expect((await failure(client.read("secret/data/app/admin"))).response?.statusCode).toBe(403);
    });

    it("distinguishes create from update, and checks list on the folder path", async () => {
      server.addPolicy("creator", [
        { path: "secret/data/app/*", capabilities: ["create", "read"] },
        { path: "secret/metadata/app/", capabilities: ["list"] },
      ]);
      const { token, policies } = server.createToken({ policies: ["creator"] });
      expect(policies).toEqual(["creator", "default"]);
      const client = vault({ apiVersion: "v1", endpoint: server.url, token });

      await client.write("secret/data/app/new", { data: { a: "1" } });
      expect((await failure(client.write("secret/data/app/new", { data: { a: "2" } }))).response?.statusCode).toBe(403);
      expect((await client.list("secret/metadata/app")).data.keys).toEqual(["new"]);
    });

    it("logs in with AppRole and rejects bad credentials with Vault's message", async () => {
      server.kvPut("app/db", { a: "1" });
      const { roleId, secretId } = server.addAppRole("broker", {
        rules: [{ path: "secret/data/app/*", capabilities: ["read"] }],
        tokenTtlSeconds: 600,
      });
      const client = vault({ apiVersion: "v1", endpoint: server.url });
      const login = await client.approleLogin({ role_id: roleId, secret_id: secretId });
      expect(login.auth).toMatchObject({
        renewable: true,
        lease_duration: 600,
        token_type: "service",
        orphan: true,
        metadata: { role_name: "broker" },
      });
      expect(login.auth.client_token).toMatch(/^hvs\./);
      expect(login.auth.accessor).toEqual(expect.any(String));
      expect(login.auth.policies).toContain("default");
      expect(client.token).toBe(login.auth.client_token);
      expect((await client.read("secret/data/app/db")).data.data).toEqual({ a: "1" });

      const bad = await failure(vault({ apiVersion: "v1", endpoint: server.url }).approleLogin({ role_id: roleId, secret_id: "wrong" }));
      expect(bad.response?.statusCode).toBe(400);
      expect(bad.response?.body).toEqual({ errors: ["invalid role or secret ID"] });
      const badRole = await failure(vault({ apiVersion: "v1", endpoint: server.url }).approleLogin({ role_id: "nope", secret_id: secretId }));
      expect(badRole.message).toBe("invalid role or secret ID");
    });

    it("looks up and renews a token up to its max TTL, with Vault's capping warning", async () => {
      const { token, accessor } = server.createToken({ ttlSeconds: 600, maxTtlSeconds: 1000 });
      const client = vault({ apiVersion: "v1", endpoint: server.url, token });

      const self = await client.tokenLookupSelf();
      expect(self.data).toMatchObject({ id: token, accessor, ttl: 600, creation_ttl: 600, renewable: true, type: "service" });

      server.advanceClock(500);
      expect((await client.tokenLookupSelf()).data.ttl).toBe(100);
      const renewed = await client.tokenRenewSelf();
      expect(renewed.auth).toMatchObject({ client_token: token, lease_duration: 500, renewable: true });
      expect(renewed.warnings).toEqual([
        'TTL of "10m0s" exceeded the effective max_ttl of "8m20s"; TTL value is capped accordingly',
      ]);

      const withIncrement = await client.tokenRenewSelf({ increment: "1m" });
      expect(withIncrement.auth.lease_duration).toBe(60);
      expect(withIncrement.warnings).toBeNull();
    });

    it("refuses to renew a non-renewable token, and an expired token is simply invalid", async () => {
      const fixed = vault({ apiVersion: "v1", endpoint: server.url, token: server.createToken({ renewable: false }).token });
      const notRenewable = await failure(fixed.tokenRenewSelf());
      expect(notRenewable.response?.statusCode).toBe(400);
      expect(notRenewable.message).toBe("lease is not renewable");

      const short = server.createToken({ ttlSeconds: 60 });
      const client = vault({ apiVersion: "v1", endpoint: server.url, token: short.token });
      server.advanceClock(61);
      expect(server.lookupToken(short.token)).toBeUndefined();
      const expired = await failure(client.tokenRenewSelf());
      expect(expired.response?.statusCode).toBe(403);
      expect(expired.response?.body).toEqual({ errors: ["permission denied"] });
    });

    it("revokes a token with revoke-self", async () => {
      const { token } = server.createToken();
      const client = vault({ apiVersion: "v1", endpoint: server.url, token });
      await client.tokenRevokeSelf();
      expect((await failure(client.tokenLookupSelf())).response?.statusCode).toBe(403);
    });
  });

  describe("database credentials and leases", () => {
    beforeEach(() => {
      server.addDatabaseRole("readonly", { defaultTtlSeconds: 300, maxTtlSeconds: 900 });
    });

    it("issues credentials under a lease that can be looked up, renewed and revoked", async () => {
      const creds = await root.generateDatabaseCredentials({ databasePath: "database", name: "readonly" });
      expect(creds.lease_id).toMatch(/^database\/creds\/readonly\/[A-Za-z0-9]{24}$/);
      expect(creds).toMatchObject({ renewable: true, lease_duration: 300 });
      expect(creds.data.username).toMatch(/^v-root-readonly-/);
      expect(creds.data.password).toEqual(expect.any(String));
      expect(server.activeLeases().map((l) => l.leaseId)).toEqual([creds.lease_id]);

      const lookup = await root.request({ path: "/sys/leases/lookup", method: "PUT", json: { lease_id: creds.lease_id } });
      expect(lookup.data).toMatchObject({ id: creds.lease_id, renewable: true, ttl: 300, last_renewal: null });

      server.advanceClock(200);
      const renewed = await root.renew({ lease_id: creds.lease_id, increment: 600 });
      expect(renewed).toMatchObject({ lease_id: creds.lease_id, renewable: true, lease_duration: 600, warnings: null });

      server.advanceClock(400);
      const capped = await root.renew({ lease_id: creds.lease_id, increment: 600 });
      expect(capped.lease_duration).toBe(300);
      expect(capped.warnings).toHaveLength(1);

      await root.revoke({ lease_id: creds.lease_id });
      expect(server.activeLeases()).toEqual([]);
      expect(server.revokedLeases()).toMatchObject([{ leaseId: creds.lease_id, reason: "revoked" }]);

      const again = await failure(root.renew({ lease_id: creds.lease_id }));
      expect(again.response?.statusCode).toBe(400);
      expect(again.response?.body).toEqual({ errors: ["lease not found"] });
      const lookupGone = await failure(root.request({ path: "/sys/leases/lookup", method: "PUT", json: { lease_id: creds.lease_id } }));
      expect(lookupGone.message).toBe("invalid lease");
    });

    it("expires leases on the test clock and revokes a token's leases with the token", async () => {
      const first = await root.generateDatabaseCredentials({ databasePath: "database", name: "readonly" });
      server.advanceClock(301);
      expect(server.revokedLeases()).toMatchObject([{ leaseId: first.lease_id, reason: "expired" }]);
      expect((await failure(root.renew({ lease_id: first.lease_id }))).message).toBe("lease not found");

      const { token } = server.createToken({ rules: [{ path: "database/creds/readonly", capabilities: ["read"] }] });
      const client = vault({ apiVersion: "v1", endpoint: server.url, token });
      const second = await client.generateDatabaseCredentials({ databasePath: "database", name: "readonly" });
      await client.tokenRevokeSelf();
      expect(server.revokedLeases().at(-1)).toMatchObject({ leaseId: second.lease_id, reason: "token-revoked" });
    });

    it("issues leases of a non-renewable role as renewable: false and refuses to renew them", async () => {
      server.addDatabaseRole("one-shot", { defaultTtlSeconds: 300, renewable: false });
      const creds = await root.generateDatabaseCredentials({ databasePath: "database", name: "one-shot" });
      expect(creds).toMatchObject({ renewable: false, lease_duration: 300 });
      const refused = await failure(root.renew({ lease_id: creds.lease_id, increment: 600 }));
      expect(refused.response?.statusCode).toBe(400);
      expect(refused.response?.body).toEqual({ errors: ["lease is not renewable"] });
    });

    it("keeps sys/leases/revoke out of the default policy and rejects unknown roles", async () => {
      const { token } = server.createToken({ rules: [{ path: "database/creds/*", capabilities: ["read"] }] });
      const client = vault({ apiVersion: "v1", endpoint: server.url, token });
      const creds = await client.generateDatabaseCredentials({ databasePath: "database", name: "readonly" });
      await client.renew({ lease_id: creds.lease_id });
      expect((await failure(client.revoke({ lease_id: creds.lease_id }))).response?.statusCode).toBe(403);

      const unknown = await failure(root.generateDatabaseCredentials({ databasePath: "database", name: "nope" }));
      expect(unknown.response?.statusCode).toBe(400);
      expect(unknown.message).toBe("unknown role: nope");
    });
  });

  describe("seal, health, outages", () => {
    it("answers 503 Vault is sealed while sealed, except health and seal-status", async () => {
      server.kvPut("app/db", { a: "1" });
      server.seal();
      const sealed = await failure(root.read("secret/data/app/db"));
      expect(sealed.response?.statusCode).toBe(503);
      expect(sealed.response?.body).toEqual({ errors: ["Vault is sealed"] });

      // node-vault resolves sys/health whatever the status; the body tells the state.
      expect(await root.health()).toMatchObject({ initialized: true, sealed: true, standby: true });
      expect(await root.status()).toMatchObject({ sealed: true, t: 1, n: 1, progress: 0 });

      await root.unseal({ key: server.unsealKey });
      expect(await root.health()).toMatchObject({ sealed: false, standby: false, version: expect.any(String) });
      expect((await root.read("secret/data/app/db")).data.data).toEqual({ a: "1" });
    });

    it("reports health with status codes a load balancer can use", async () => {
      const response = await fetch(`${server.url}/v1/sys/health`);
      expect(response.status).toBe(200);
      server.seal();
      expect((await fetch(`${server.url}/v1/sys/health`)).status).toBe(503);
      expect((await fetch(`${server.url}/v1/sys/health?sealedcode=200`)).status).toBe(200);
    });

    it("makes an outage observable: reset, refused, then back", async () => {
      server.kvPut("app/db", { a: "1" });
      await server.setDown(true);
      const reset = await failure(root.read("secret/data/app/db"));
      expect(reset.response).toBeUndefined();
      expect(reset.code).toBe("ECONNRESET");

      await server.setDown("refuse");
      expect((await failure(root.read("secret/data/app/db"))).code).toBe("ECONNREFUSED");

      await server.setDown(false);
      expect((await root.read("secret/data/app/db")).data.data).toEqual({ a: "1" });
    });

    it("makes a hang and slowness observable through the client's timeout", async () => {
      server.kvPut("app/db", { a: "1" });
      const impatient = vault({ apiVersion: "v1", endpoint: server.url, token: server.rootToken, requestOptions: { timeout: 100 } });

      await server.setDown("hang");
      const hung = await failure(impatient.read("secret/data/app/db"));
      expect(hung.code).toBe("ECONNABORTED");
      await server.setDown(false);

      server.setLatencyMs(300);
      expect((await failure(impatient.read("secret/data/app/db"))).code).toBe("ECONNABORTED");
      const started = Date.now();
      await root.read("secret/data/app/db");
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    });

    it("scripts failures and records requests without tokens", async () => {
      server.kvPut("app/db", { a: "1" });
      server.injectFault({ pathPrefix: "secret/data/", status: 500, errors: ["internal error"] });
      const error = await failure(root.read("secret/data/app/db"));
      expect(error.response?.statusCode).toBe(500);
      await root.read("secret/data/app/db");

      const log = server.requests();
      expect(log.map((r) => [r.method, r.path, r.status])).toEqual([
        ["GET", "/v1/secret/data/app/db", 500],
        ["GET", "/v1/secret/data/app/db", 200],
      ]);
      expect(JSON.stringify(log)).not.toContain(server.rootToken);
    });
  });
});
