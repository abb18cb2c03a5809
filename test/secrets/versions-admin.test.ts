/**
 * Version management by operators: rollback writes an earlier version's value as a new version
 * (history is never rewritten, the value never leaves in the answer or the audit record);
 * destroy erases one version for good: on the local store its ciphertext and data key are
 * emptied in the database, on Vault KV v2 it is KV's destroy, and on AWS it is refused, naming why.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest } from "../helpers/attack-kit.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { startSecretsManagerTestServer, type SecretsManagerTestServer } from "../servers/aws-server.js";
import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";

type Versions = { versions: Array<{ version: number; destroyed: boolean }> };

describe("secret rollback and destroy", () => {
  let vault: VaultTestServer;
  let aws: SecretsManagerTestServer;
  let b: TestBroker;
  const values = [testSecret("v1"), testSecret("v2"), testSecret("v3")];

  beforeAll(async () => {
    vault = await startVaultTestServer();
    aws = await startSecretsManagerTestServer();
    aws.seed("prod/db", { secretString: JSON.stringify({ password: testSecret("aws") }) });
    process.env.CB_VERSIONS_VAULT_TOKEN = vault.rootToken;
    process.env.CB_VERSIONS_AWS_KEY = "test-key";
    process.env.CB_VERSIONS_AWS_SECRET = "test-secret";
    b = await startTestBroker({
      config: {
        mounts: [
          { path: "kv/", backend: "vault", address: vault.url, kv_mount: "secret", auth: { token_env: "CB_VERSIONS_VAULT_TOKEN" }, timeout: "2s" },
          { path: "aws/", backend: "aws", region: "us-east-1", endpoint: aws.endpoint, credentials: { access_key_id_env: "CB_VERSIONS_AWS_KEY", secret_access_key_env: "CB_VERSIONS_AWS_SECRET" }, timeout: "2s" },
        ],
      },
    });
    for (const value of values) await b.putSecret("app/rolled", value);
  });
  afterAll(async () => {
    await b.close();
    await vault.close();
    await aws.close();
  });

  const read = (path: string, version?: number) => b.admin<{ value: string; version: number; error?: { code: string; message: string } }>("POST", "/v1/admin/secrets/read", { path, ...(version && { version }) });

  it("rollback writes version N's value as a new version; the answer and the audit record hold no value", async () => {
    const rolled = await b.admin<{ path: string; version: number; from: number }>("POST", "/v1/admin/secrets/app/rolled/rollback", { to: 1 });
    expect(rolled.status).toBe(201);
    expect(rolled.body).toEqual({ path: "app/rolled", version: 4, from: 1 });
    expect(await read("app/rolled")).toMatchObject({ body: { value: values[0], version: 4 } });
    expect((await read("app/rolled", 3)).body.value).toBe(values[2]);
    const records = await b.broker.store.queryAudit({ action: "admin.secret.rollback", limit: 10 });
    expect(records.map((r) => [r.resource, r.version, r.reason])).toEqual([["app/rolled", 4, "value of version 1"]]);
    for (const value of values) expect(JSON.stringify(records) + JSON.stringify(rolled.body)).not.toContain(value);
  });

  it("destroy erases one local version for good: not found on read, marked in versions, ciphertext empty in the database", async () => {
    const destroyed = await b.admin<{ destroyed: boolean }>("POST", "/v1/admin/secrets/app/rolled/destroy", { version: 2 });
    expect([destroyed.status, destroyed.body]).toEqual([200, { path: "app/rolled", version: 2, destroyed: true }]);
    const gone = await read("app/rolled", 2);
    expect([gone.status, gone.body.error?.code, gone.body.error?.message]).toEqual([404, "not_found", "version 2 of app/rolled was destroyed"]);
    expect((await read("app/rolled", 3)).body.value, "other versions are untouched").toBe(values[2]);
    const detail = await b.admin<Versions>("GET", "/v1/admin/secrets/app/rolled");
    expect(detail.body.versions.map((v) => [v.version, v.destroyed])).toEqual([[1, false], [2, true], [3, false], [4, false]]);
    const db = new Database(join(b.dir, "broker.db"), { readonly: true });
    try {
      const row = db.prepare("select length(ciphertext) as c, length(wrapped_key) as k, destroyed_at from secret_versions where path = ? and version = 2").get("app/rolled") as { c: number; k: number; destroyed_at: number };
      expect(row).toMatchObject({ c: 0, k: 0 });
      expect(row.destroyed_at).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    const again = await b.admin<{ error: { code: string } }>("POST", "/v1/admin/secrets/app/rolled/destroy", { version: 2 });
    expect([again.status, again.body.error.code]).toEqual([404, "not_found"]);
    const rollbackToDestroyed = await b.admin<{ error: { message: string } }>("POST", "/v1/admin/secrets/app/rolled/rollback", { to: 2 });
    expect([rollbackToDestroyed.status, rollbackToDestroyed.body.error.message]).toEqual([404, "version 2 of app/rolled was destroyed"]);
    expect((await b.broker.store.queryAudit({ action: "admin.secret.destroy", limit: 10 })).map((r) => [r.resource, r.version])).toEqual([["app/rolled", 2]]);
  });

  it.each([
    ["a version that does not exist", "/v1/admin/secrets/app/rolled/destroy", { version: 99 }, 404],
    ["a secret that does not exist", "/v1/admin/secrets/app/none/rollback", { to: 1 }, 404],
    ["version 0", "/v1/admin/secrets/app/rolled/destroy", { version: 0 }, 400],
    ["an unknown field", "/v1/admin/secrets/app/rolled/rollback", { to: 1, value: "x" }, 400],
    ["a #key selection", "/v1/admin/secrets/app/rolled%23k/rollback", { to: 1 }, 400],
  ])("refuses %s", async (_what, path, body, status) => {
    expect((await b.admin("POST", path, body)).status).toBe(status);
  });

  it.each([["/v1/admin/secrets/app/../rolled/destroy"], ["/v1/admin/secrets/app/%2e%2e/rolled/rollback"], ["/v1/admin/secrets/./app/rolled/destroy"]])("refuses the dot segments of %s, sent verbatim", async (target) => {
    const body = JSON.stringify(target.endsWith("rollback") ? { to: 1 } : { version: 1 });
    const answer = await rawRequest(b.url, { method: "POST", target, headers: { authorization: `Bearer ${b.adminToken}`, "content-type": "application/json" }, body });
    expect([answer.status, (answer.body as { error: { code: string } }).error.code]).toEqual([400, "invalid_path"]);
  });

  it("needs the delete permission to destroy and write to roll back: an auditor is refused both", async () => {
    const { token } = (await b.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "ver-auditor", role: "auditor" })).body;
    expect((await b.admin("POST", "/v1/admin/secrets/app/rolled/destroy", { version: 1 }, token)).status).toBe(403);
    expect((await b.admin("POST", "/v1/admin/secrets/app/rolled/rollback", { to: 1 }, token)).status).toBe(403);
    expect((await read("app/rolled", 1)).body.value).toBe(values[0]);
  });

  it("on Vault KV v2, destroy is KV's destroy of that version; rollback writes a new KV version", async () => {
    await b.admin("POST", "/v1/admin/secrets", { path: "kv/app", value: JSON.stringify({ token: "one" }) });
    await b.admin("POST", "/v1/admin/secrets", { path: "kv/app", value: JSON.stringify({ token: "two" }) });
    expect((await b.admin("POST", "/v1/admin/secrets/kv/app/rollback", { to: 1 })).body).toEqual({ path: "kv/app", version: 3, from: 1 });
    expect((await read("kv/app#token")).body).toMatchObject({ value: "one", version: 3 });
    expect((await b.admin("POST", "/v1/admin/secrets/kv/app/destroy", { version: 1 })).status).toBe(200);
    expect((await read("kv/app", 1)).status).toBe(404);
    const versions = await b.admin<Versions>("GET", "/v1/admin/secrets/kv/app");
    expect(versions.body.versions.map((v) => [v.version, v.destroyed])).toEqual([[1, true], [2, false], [3, false]]);
    expect((await b.admin("POST", "/v1/admin/secrets/kv/app/destroy", { version: 1 })).status).toBe(404);
  });

  it("on AWS, destroy is refused with a message naming why", async () => {
    const refused = await b.admin<{ error: { code: string; message: string } }>("POST", "/v1/admin/secrets/aws/prod/db/destroy", { version: 1 });
    expect([refused.status, refused.body.error.code]).toEqual([400, "invalid_request"]);
    expect(refused.body.error.message).toContain("mount aws/ (aws) cannot destroy one version");
  });
});
