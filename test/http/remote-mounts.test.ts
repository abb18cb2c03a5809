/**
 * One broker, three backends behind one API: a Vault KV v2 mount and a Secrets Manager mount
 * (in-repo test servers reached through the real node-vault and AWS SDK clients) beside the local
 * store. An MCP server reads from all three in one all-or-nothing request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSecretsManagerTestServer, type SecretsManagerTestServer } from "../servers/aws-server.js";
import { startVaultTestServer, type VaultTestServer } from "../servers/vault-server.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { BrokerClient } from "../../src/sdk/client.js";

const POLICY = `
servers:
  multi-mcp:
    allow:
      - secrets: ["kv/**", "aws/**", "local/**"]
        actions: [read]
`;

describe("a broker with vault and aws mounts", () => {
  let vault: VaultTestServer;
  let aws: SecretsManagerTestServer;
  let b: TestBroker;
  let token: string;
  const vaultToken = testSecret("vault-kv");
  const awsPassword = testSecret("aws-db");
  const localValue = testSecret("local");

  beforeAll(async () => {
    vault = await startVaultTestServer();
    aws = await startSecretsManagerTestServer();
    vault.kvPut("app", { token: vaultToken, region: "eu" });
    aws.seed("prod/db", { secretString: JSON.stringify({ username: "app", password: awsPassword }) });
    process.env.CB_TEST_VAULT_TOKEN = vault.rootToken;
    process.env.CB_TEST_AWS_KEY = "test-key";
    process.env.CB_TEST_AWS_SECRET = "test-secret";
    b = await startTestBroker({
      policy: POLICY,
      config: {
        mounts: [
          { path: "kv/", backend: "vault", address: vault.url, kv_mount: "secret", auth: { token_env: "CB_TEST_VAULT_TOKEN" }, timeout: "2s" },
          { path: "aws/", backend: "aws", region: "us-east-1", endpoint: aws.endpoint, credentials: { access_key_id_env: "CB_TEST_AWS_KEY", secret_access_key_env: "CB_TEST_AWS_SECRET" }, timeout: "2s" },
        ],
      },
    });
    await b.putSecret("local/key", localValue);
    token = await b.serverToken("multi-mcp", await b.registerServer("multi-mcp"));
  });
  afterAll(async () => {
    await b.close();
    await vault.close();
    await aws.close();
  });

  it("serves a key of a Vault KV secret, a key of a Secrets Manager JSON secret and a local secret in one request", async () => {
    const { status, body } = await b.call<{ secrets: Record<string, { value: string; version: number }> }>("POST", "/v1/secrets/read", {
      token,
      body: { names: ["kv/app#token", "aws/prod/db#password", "local/key"] },
    });
    expect(status).toBe(200);
    expect(body.secrets["kv/app#token"]).toMatchObject({ value: vaultToken, version: 1 });
    expect(body.secrets["aws/prod/db#password"]!.value).toBe(awsPassword);
    expect(body.secrets["local/key"]!.value).toBe(localValue);
  });

  it("gives an MCP server's SDK client values from Vault, AWS and the local store in one load", async () => {
    const clientSecret = (await b.admin<{ client_secret: string }>("POST", "/v1/admin/servers/multi-mcp/rotate-credentials")).body.client_secret;
    const client = new BrokerClient({ url: b.url, clientId: "multi-mcp", clientSecret, events: false });
    try {
      const secrets = await client.load({ VAULT_TOKEN: "kv/app#token", DB_PASSWORD: "aws/prod/db#password", LOCAL_KEY: "local/key" });
      expect(secrets.get("VAULT_TOKEN")).toBe(vaultToken);
      expect(secrets.get("DB_PASSWORD")).toBe(awsPassword);
      expect(secrets.get("LOCAL_KEY")).toBe(localValue);
    } finally {
      await client.close();
    }
    // Rotating the credentials cut off the tokens issued before: the next tests need a fresh one.
    token = await b.serverToken("multi-mcp", clientSecret);
  });

  it("returns a whole Vault KV map as JSON text without #key", async () => {
    const { body } = await b.call<{ value: string }>("GET", "/v1/secrets/kv/app", { token });
    expect(JSON.parse(body.value)).toEqual({ token: vaultToken, region: "eu" });
  });

  it("reports each mount in /readyz", async () => {
    const ready = await b.call<{ checks: Record<string, { ok: boolean }> }>("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(Object.keys(ready.body.checks)).toEqual(expect.arrayContaining(["backend:local", "backend:kv/", "backend:aws/"]));
  });

  it("answers 503 naming the mount when Vault is sealed, fast, without releasing anything", async () => {
    vault.seal();
    try {
      const { status, body } = await b.call<{ error: { code: string; message: string } }>("POST", "/v1/secrets/read", { token, body: { names: ["kv/other", "local/key"] } });
      expect(status).toBe(503);
      expect(body.error.code).toBe("backend_unavailable");
      expect(body.error.message).toContain("kv/");
      expect(JSON.stringify(body)).not.toContain(localValue);
      expect((await b.call("GET", "/readyz")).status).toBe(503);
    } finally {
      vault.unseal();
    }
  });

  it("reports a missing remote secret as not found, and audits reads on remote mounts like local ones", async () => {
    const missing = await b.call<{ error: { code: string; missing: string[] } }>("GET", "/v1/secrets/aws/nope", { token });
    expect(missing.status).toBe(404);
    const report = await b.admin<{ servers: Array<{ server: string; outcomes: { allowed: number } }> }>("GET", "/v1/audit/access-report?secret=aws/prod/db");
    expect(report.body.servers).toEqual([expect.objectContaining({ server: "multi-mcp", outcomes: expect.objectContaining({ allowed: 2 }) })]);
  });
});

describe("operator views of remote secrets", () => {
  it("describes a secret that lives only in Vault from its versions", async () => {
    const vault = await startVaultTestServer();
    vault.kvPut("svc", { a: "1" });
    vault.kvPut("svc", { a: "2" });
    process.env.CB_TEST_VAULT_TOKEN_2 = vault.rootToken;
    const b = await startTestBroker({ config: { mounts: [{ path: "kv/", backend: "vault", address: vault.url, auth: { token_env: "CB_TEST_VAULT_TOKEN_2" }, timeout: "2s" }] } });
    try {
      const { status, body } = await b.admin<{ current_version: number; versions: Array<{ version: number }> }>("GET", "/v1/admin/secrets/kv/svc");
      expect(status).toBe(200);
      expect(body.current_version).toBe(2);
      expect(body.versions.map((v) => v.version)).toEqual([1, 2]);
    } finally {
      await b.close();
      await vault.close();
    }
  });
});
