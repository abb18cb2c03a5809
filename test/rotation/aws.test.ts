/**
 * aws through the real @aws-sdk/client-secrets-manager against the in-repo Secrets Manager
 * server: staged rotation (PutSecretValue AWSPENDING, test, UpdateSecretVersionStage) and
 * RotateSecret with the server's simulated rotation Lambda.
 */
import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { rotationStrategies } from "../../src/rotation/registry.js";
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, startSecretsManagerTestServer, type SecretsManagerTestServer } from "../servers/aws-server.js";
import { json, testMounts, type TestMounts } from "../backends/helpers.js";
import { pendingValuesForTests, rotationStrategyContract } from "../contracts/rotation-strategy.contract.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

const INITIAL = JSON.stringify({ username: "app", password: "initial-value-0123456789" });

async function awsFixture(): Promise<{ server: SecretsManagerTestServer; mounts: TestMounts }> {
  let now = Date.now();
  const server = await startSecretsManagerTestServer({ now: () => (now += 1) });
  server.seed("db", { secretString: INITIAL });
  const mounts = await testMounts(
    [{ path: "aws/", backend: "aws", region: "us-east-1", endpoint: server.endpoint, timeout: "300ms", credentials: { access_key_id_env: "K", secret_access_key_env: "S" } }],
    { env: { K: "test", S: "test" } },
  );
  return { server, mounts };
}

const current = async (mounts: TestMounts) => (await mounts.table.resolve("aws/db").backend.read("db"))!;

rotationStrategyContract("aws, staged, one key of a JSON SecretString", async () => {
  const { server, mounts } = await awsFixture();
  const parts = { secretPath: "aws/db", mounts: mounts.table, options: optionsFromPolicy("aws", "{ aws: { key: password } }"), pending: pendingValuesForTests() };
  return {
    strategy: rotationStrategies.aws,
    context: (rotationId) => contextFor(parts, rotationId),
    accepts: async (value) => (await current(mounts)).bytes.equals(value),
    async close() {
      await mounts.close();
      await server.close();
    },
  };
});

describe("aws: edge cases", () => {
  let server: SecretsManagerTestServer;
  let mounts: TestMounts;
  beforeAll(async () => {
    ({ server, mounts } = await awsFixture());
  });
  afterAll(async () => {
    await mounts.close();
    await server.close();
  });
  const strategy = rotationStrategies.aws;
  const parts = (options: string) => ({ secretPath: "aws/db", mounts: mounts.table, options: optionsFromPolicy("aws", options), pending: pendingValuesForTests() });
  const stagesOf = (versionId: string) => server.secret("db")!.versions.find((version) => version.versionId === versionId)?.stages ?? [];

  it("staged: AWSPENDING until finish, then AWSCURRENT; the old version keeps AWSPREVIOUS; other keys are kept", async () => {
    const p = parts("{ aws: { key: password } }");
    const rotationId = randomUUID();
    const before = await current(mounts);
    const created = await strategy.create(contextFor(p, rotationId));
    expect(stagesOf(rotationId)).toEqual([AWSPENDING]);
    expect((await current(mounts)).bytes.equals(before.bytes)).toBe(true);
    const tested = await strategy.test(contextFor(p, rotationId), await strategy.set(contextFor(p, rotationId), created));
    await strategy.finish(contextFor(p, rotationId), tested);
    expect(stagesOf(rotationId)).toEqual([AWSCURRENT]);
    expect(stagesOf(before.versionId!)).toEqual([AWSPREVIOUS]);
    const after = json((await current(mounts)).bytes) as Record<string, string>;
    expect(after["username"]).toBe("app");
    expect(after["password"]).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it("staged: rollback removes AWSPENDING and leaves AWSCURRENT where it was", async () => {
    const p = parts("{ aws: {} }");
    const rotationId = randomUUID();
    const before = await current(mounts);
    const created = await strategy.create(contextFor(p, rotationId));
    await strategy.rollback(contextFor(p, rotationId), created);
    expect(stagesOf(rotationId)).toEqual([]);
    expect((await current(mounts)).versionId).toBe(before.versionId);
  });

  it("lambda: RotateSecret runs the secret's Lambda; finish answers the version it made current", async () => {
    server.enableRotation("db", { lambdaArn: "arn:aws:lambda:us-east-1:123456789012:function:rotate-db" });
    const p = parts("{ aws: { mode: lambda } }");
    const rotationId = randomUUID();
    const before = await current(mounts);
    const created = await strategy.create(contextFor(p, rotationId));
    expect(created).toEqual({ mode: "lambda", versionId: rotationId });
    const tested = await strategy.test(contextFor(p, rotationId), await strategy.set(contextFor(p, rotationId), created));
    const { version } = await strategy.finish(contextFor(p, rotationId), tested);
    const after = await current(mounts);
    expect(after.versionId).toBe(rotationId);
    expect(after.version).toBe(version);
    expect(after.bytes.equals(before.bytes)).toBe(false);
  });

  it("lambda: a Lambda that stops after createSecret fails test with rotation_failed; rollback removes its AWSPENDING", async () => {
    server.enableRotation("db", { lambdaArn: "arn:aws:lambda:us-east-1:123456789012:function:rotate-db" });
    server.setRotationBehaviour({ outcome: "fail" }, "db");
    try {
      const p = parts("{ aws: { mode: lambda } }");
      const rotationId = randomUUID();
      const created = await strategy.create(contextFor(p, rotationId));
      await expect(strategy.test(contextFor(p, rotationId), created)).rejects.toMatchObject({ code: "rotation_failed" });
      await strategy.rollback(contextFor(p, rotationId), created);
      expect(stagesOf(rotationId)).toEqual([]);
    } finally {
      server.setRotationBehaviour({ outcome: "complete" }, "db");
    }
  });

  it("a path that is not on an AWS mount is refused with invalid_request", async () => {
    await mounts.local.write("local/db", Buffer.from("x"), { createdBy: "test" });
    const p = { ...parts("{ aws: {} }"), secretPath: "local/db" };
    await expect(strategy.create(contextFor(p, randomUUID()))).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("an identity AWS refuses for the secret fails create with forbidden naming the mount", async () => {
    server.denyAccess("db");
    try {
      await expect(strategy.create(contextFor(parts("{ aws: {} }"), randomUUID()))).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("aws/") });
    } finally {
      server.allowAccess();
    }
  });

  it("Secrets Manager down fails create with backend_unavailable naming the mount", async () => {
    await server.setDown("refuse");
    try {
      await expect(strategy.create(contextFor(parts("{ aws: {} }"), randomUUID()))).rejects.toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("aws/") });
    } finally {
      await server.setDown(false);
    }
  });
});
