/**
 * generate against the local encrypted store (real SQLite and envelope encryption) and against an
 * AWS mount (the real AWS SDK and the in-repo Secrets Manager server), where the new value is
 * staged as AWSPENDING before it becomes current.
 */
import { randomUUID } from "node:crypto";

import { describe, expect, it } from "vitest";

import { generateValue } from "../../src/rotation/generate-value.js";
import { rotationStrategies } from "../../src/rotation/registry.js";
import { startSecretsManagerTestServer } from "../servers/aws-server.js";
import { testMounts } from "../backends/helpers.js";
import { pendingValuesForTests, rotationStrategyContract } from "../contracts/rotation-strategy.contract.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

rotationStrategyContract("generate on the local store", async () => {
  const mounts = await testMounts([]);
  await mounts.local.write("rotated/api", Buffer.from("initial-value-0123456789"), { createdBy: "test" });
  const parts = { secretPath: "rotated/api", mounts: mounts.table, options: optionsFromPolicy("generate", "{ generate: { length: 40 } }"), pending: pendingValuesForTests() };
  return {
    strategy: rotationStrategies.generate,
    context: (rotationId) => contextFor(parts, rotationId),
    // The backend is the only system: a value works when it is the one served.
    accepts: async (value) => (await mounts.local.read("rotated/api"))?.bytes.equals(value) ?? false,
    close: () => mounts.close(),
  };
});

rotationStrategyContract("generate on an AWS mount (staged)", async () => {
  let now = Date.now();
  const server = await startSecretsManagerTestServer({ now: () => (now += 1) });
  server.seed("api", { secretString: "initial-value-0123456789" });
  const mounts = await testMounts(
    [{ path: "aws/", backend: "aws", region: "us-east-1", endpoint: server.endpoint, credentials: { access_key_id_env: "K", secret_access_key_env: "S" } }],
    { env: { K: "test", S: "test" } },
  );
  const parts = { secretPath: "aws/api", mounts: mounts.table, options: optionsFromPolicy("generate", "{ generate: {} }"), pending: pendingValuesForTests() };
  return {
    strategy: rotationStrategies.generate,
    context: (rotationId) => contextFor(parts, rotationId),
    accepts: async (value) => (await mounts.table.resolve("aws/api").backend.read("api"))?.bytes.equals(value) ?? false,
    async close() {
      await mounts.close();
      await server.close();
    },
  };
});

describe("generate: values", () => {
  it("draws every character from the alphabet and holds every required class", () => {
    const options = optionsFromPolicy("generate", '{ generate: { length: 40, alphabet: "abcXYZ0123!#", require: [lower, upper, digit, symbol] } }');
    for (let i = 0; i < 200; i++) {
      const value = generateValue(options).toString("ascii");
      expect(value).toMatch(/^[abcXYZ0123!#]{40}$/);
      expect(value).toMatch(/[a-c]/);
      expect(value).toMatch(/[XYZ]/);
      expect(value).toMatch(/[0-3]/);
      expect(value).toMatch(/[!#]/);
    }
  });

  it("an AWS mount that is down fails create with backend_unavailable naming the mount", async () => {
    const server = await startSecretsManagerTestServer();
    server.seed("api", { secretString: "initial-value-0123456789" });
    const mounts = await testMounts(
      [{ path: "aws/", backend: "aws", region: "us-east-1", endpoint: server.endpoint, timeout: "300ms", credentials: { access_key_id_env: "K", secret_access_key_env: "S" } }],
      { env: { K: "test", S: "test" } },
    );
    try {
      server.setDown("refuse");
      const parts = { secretPath: "aws/api", mounts: mounts.table, options: optionsFromPolicy("generate", "{ generate: {} }"), pending: pendingValuesForTests() };
      await expect(rotationStrategies.generate.create(contextFor(parts, randomUUID()))).rejects.toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("aws/") });
    } finally {
      await mounts.close();
      await server.close();
    }
  });
});
