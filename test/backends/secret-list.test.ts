/**
 * The operators' secret list (GET /v1/admin/secrets?prefix=, `credbroker secret list`) covers
 * every listable mount: the local store with its metadata, Vault KV and Secrets Manager by name
 * (in-repo test servers through the real node-vault and AWS SDK clients). A remote mount that
 * cannot answer fails the list with a 503 naming it, never a list that silently lacks its secrets.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSecretsManagerTestServer, type SecretsManagerTestServer } from "../servers/aws-server.js";
import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

interface Listed {
  path: string;
  mount: string;
  backend: string;
  owner: string | null;
  current_version: number | null;
  updated_at: string | null;
}

const remoteEntry = (path: string, mount: string, backend: string) => ({
  path,
  mount,
  backend,
  description: null,
  owner: null,
  labels: null,
  sensitivity: null,
  current_version: null,
  created_at: null,
  updated_at: null,
});

describe("secret list across mounts", () => {
  let vault: VaultTestServer;
  let aws: SecretsManagerTestServer;
  let b: TestBroker;

  beforeAll(async () => {
    vault = await startVaultTestServer();
    aws = await startSecretsManagerTestServer();
    vault.kvPut("app/db", { password: "p" });
    vault.kvPut("app/api", { token: "t" });
    // Shadowed by the local mount kv/team/: the broker reads kv/team/* from the local store.
    vault.kvPut("team/shadowed", { token: "t" });
    aws.seed("prod/db", { secretString: "{}" });
    vault.addDatabaseRole("analytics-ro");
    process.env.CB_TEST_LIST_VAULT_TOKEN = vault.rootToken;
    process.env.CB_TEST_LIST_AWS_KEY = "test-key";
    process.env.CB_TEST_LIST_AWS_SECRET = "test-secret";
    const vaultAuth = { auth: { token_env: "CB_TEST_LIST_VAULT_TOKEN" }, address: vault.url, timeout: "500ms" };
    b = await startTestBroker({
      config: {
        mounts: [
          { path: "kv/", backend: "vault", ...vaultAuth },
          { path: "kv/team/", backend: "local" },
          { path: "db/", backend: "vault", engine: "dynamic", ...vaultAuth },
          {
            path: "aws/",
            backend: "aws",
            region: "us-east-1",
            endpoint: aws.endpoint,
            credentials: { access_key_id_env: "CB_TEST_LIST_AWS_KEY", secret_access_key_env: "CB_TEST_LIST_AWS_SECRET" },
            timeout: "500ms",
            circuit_breaker: { failure_threshold: 100 },
          },
        ],
      },
    });
    await b.putSecret("github/token", "local-value");
    await b.putSecret("kv/team/db", "team-value");
  });
  afterAll(async () => {
    await b.close();
    await vault.close();
    await aws.close();
  });

  const list = (prefix?: string) => b.admin<{ secrets: Listed[] }>("GET", `/v1/admin/secrets${prefix === undefined ? "" : `?prefix=${encodeURIComponent(prefix)}`}`);

  it("lists local, Vault and AWS secrets together, sorted, each marked with its mount and backend", async () => {
    const { status, body } = await list();
    expect(status).toBe(200);
    expect(body.secrets.map((secret) => `${secret.path} ${secret.mount} ${secret.backend}`)).toEqual([
      "aws/prod/db aws/ aws",
      "github/token local local",
      "kv/app/api kv/ vault",
      "kv/app/db kv/ vault",
      "kv/team/db kv/team/ local",
    ]);
  });

  it("pages the merged list at any limit: every secret once, in order, local and remote interleaved", async () => {
    const whole = (await list()).body.secrets.map((secret) => secret.path);
    for (const limit of [1, 2, 3, 4]) {
      const paths: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `limit=${limit}${cursor === null ? "" : `&cursor=${cursor}`}`;
        const { status, body } = await b.admin<{ secrets: Listed[]; next_cursor: string | null }>("GET", `/v1/admin/secrets?${query}`);
        expect(status).toBe(200);
        expect(body.secrets.length).toBeLessThanOrEqual(limit);
        paths.push(...body.secrets.map((secret) => secret.path));
        cursor = body.next_cursor;
      } while (cursor !== null);
      expect(paths, `limit ${limit}`).toEqual(whole);
    }
  });

  it("gives a remote secret's name with null for the metadata the broker does not keep; local ones keep theirs", async () => {
    const { body } = await list();
    expect(body.secrets.find((secret) => secret.path === "kv/app/db")).toEqual(remoteEntry("kv/app/db", "kv/", "vault"));
    expect(body.secrets.find((secret) => secret.path === "aws/prod/db")).toEqual(remoteEntry("aws/prod/db", "aws/", "aws"));
    expect(body.secrets.find((secret) => secret.path === "github/token")).toMatchObject({ current_version: 1, updated_at: expect.any(String) });
  });

  it.each([
    ["inside a mount", "kv/app/", ["kv/app/api", "kv/app/db"]],
    ["part of a name inside a mount", "kv/app/a", ["kv/app/api"]],
    ["reaching into a mount from above", "k", ["kv/app/api", "kv/app/db", "kv/team/db"]],
    ["matching nothing", "kv/nothing/", []],
  ])("applies a prefix %s across mounts", async (_what, prefix, expected) => {
    const { body } = await list(prefix);
    expect(body.secrets.map((secret) => secret.path)).toEqual(expected);
  });

  it("fails the whole list with 503 naming a remote mount that is down, and does not call it for a prefix outside it", async () => {
    await aws.setDown("refuse");
    try {
      const { status, body } = await list();
      expect(status).toBe(503);
      expect(body).toMatchObject({ error: { code: "backend_unavailable", backend: "aws/" } });
      expect(JSON.stringify(body)).toContain("backend aws/ is unavailable");
      const outside = await list("kv/");
      expect(outside.status).toBe(200);
      expect(outside.body.secrets.map((secret) => secret.path)).toEqual(["kv/app/api", "kv/app/db", "kv/team/db"]);
    } finally {
      await aws.setDown(false);
    }
  });
});
