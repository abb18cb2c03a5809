/**
 * The aws backend beyond the shared contract: SecretString and SecretBinary, the version-number
 * mapping, stages, staged and managed rotation, error shapes, readiness, name prefixes. Real
 * @aws-sdk/client-secrets-manager, real HTTP, in-repo Secrets Manager server.
 */
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import {
  hasManagedRotation,
  hasStagedRotation,
  isListable,
  isWritable,
  type ListableBackend,
  type ManagedRotationBackend,
  type SecretBackend,
  type StagedRotationBackend,
  type WritableBackend,
} from "../../src/backends/backend.js";
import { startSecretsManagerTestServer, type SecretsManagerTestServer } from "../servers/aws-server.js";
import { metricValue, rejection, testMounts, testSecret, type MountInput, type TestMounts } from "./helpers.js";

type AwsBackend = WritableBackend & ListableBackend & StagedRotationBackend & ManagedRotationBackend;
const LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotate";

let server: SecretsManagerTestServer | undefined;
let mounts: TestMounts | undefined;

afterEach(async () => {
  await mounts?.close();
  await server?.close();
  mounts = undefined;
  server = undefined;
});

function aws(backend: SecretBackend): AwsBackend {
  if (!isWritable(backend) || !isListable(backend) || !hasStagedRotation(backend) || !hasManagedRotation(backend)) throw new Error("expected the aws backend");
  return backend;
}

async function setup(extra: Partial<Extract<MountInput, { backend: "aws" }>> = {}) {
  // Distinct milliseconds per call, as real AWS stamps successive writes (see test/contracts/aws.test.ts).
  let now = Date.parse("2030-01-01T00:00:00Z");
  const sm = await startSecretsManagerTestServer({ now: () => (now += 1) });
  server = sm;
  mounts = await testMounts(
    [
      {
        path: "aws/",
        backend: "aws",
        region: "us-east-1",
        endpoint: sm.endpoint,
        credentials: { access_key_id_env: "K", secret_access_key_env: "S" },
        timeout: "500ms",
        ...extra,
      },
    ],
    { env: { K: "test", S: "test" } },
  );
  return { sm, table: mounts, backend: aws(mounts.table.resolve("aws/x").backend) };
}

describe("aws backend: values and versions", () => {
  it("returns a SecretString as stored and SecretBinary as bytes; writes text as SecretString and other bytes as SecretBinary", async () => {
    const { sm, backend } = await setup();
    const text = `{"username":"app","password":"${testSecret("aws")}"}`;
    sm.seed("prod/db", { secretString: text });
    sm.seed("prod/cert", { secretBinary: new Uint8Array([0, 255, 1, 254]) });
    expect((await backend.read("prod/db"))?.bytes.toString("utf8")).toBe(text);
    expect([...((await backend.read("prod/cert"))?.bytes ?? [])]).toEqual([0, 255, 1, 254]);

    await backend.write("new/bin", Buffer.from([0xff, 0xfe, 0x00]), { createdBy: "op" });
    await backend.write("new/text", Buffer.from("héllo"), { createdBy: "op", description: "created through the broker" });
    expect(sm.secret("new/bin")?.versions[0]?.secretBinary).toEqual(new Uint8Array([0xff, 0xfe, 0x00]));
    expect(sm.secret("new/text")).toMatchObject({ description: "created through the broker", versions: [{ secretString: "héllo" }] });
  });

  it("numbers versions by creation time in ms and carries the AWS VersionId along", async () => {
    const { sm, backend } = await setup();
    const first = sm.seed("app", { secretString: "one" });
    const v2 = await backend.write("app", Buffer.from("two"), { createdBy: "op" });
    const snapshot = sm.secret("app");
    const [old, current] = snapshot?.versions ?? [];
    expect(v2).toBe(current?.createdDate.getTime());
    expect(await backend.read("app")).toMatchObject({ version: v2, versionId: current?.versionId });
    const versions = await backend.versions("app");
    expect(versions.map((entry) => [entry.version, entry.versionId, entry.stages])).toEqual([
      [old?.createdDate.getTime(), first.versionId, ["AWSPREVIOUS"]],
      [v2, current?.versionId, ["AWSCURRENT"]],
    ]);
    // A deprecated version (no label left) keeps its number and stays readable by it.
    await backend.write("app", Buffer.from("three"), { createdBy: "op" });
    expect((await backend.read("app", old?.createdDate.getTime()))?.bytes.toString()).toBe("one");
  });

  it("reads the configured stage when no version is asked for", async () => {
    const { sm, backend } = await setup({ version_stage: "AWSPREVIOUS" });
    sm.seed("app", { secretString: "one" });
    sm.seed("app", { secretString: "two" });
    expect((await backend.read("app"))?.bytes.toString()).toBe("one");
  });

  it("maps locations onto names under name_prefix, and lists them", async () => {
    const { sm, backend } = await setup({ name_prefix: "team-a/" });
    sm.seed("team-a/db", { secretString: "a" });
    sm.seed("team-a/api/key", { secretString: "b" });
    sm.seed("team-b/db", { secretString: "c" });
    expect((await backend.read("db"))?.bytes.toString()).toBe("a");
    expect(await backend.list("")).toEqual(["api/key", "db"]);
    expect(await backend.list("api/")).toEqual(["api/key"]);
  });

  it("treats a secret scheduled for deletion as gone", async () => {
    const { sm, backend } = await setup();
    sm.seed("old", { secretString: "x" });
    expect(await backend.remove("old")).toBe(true);
    expect(sm.secret("old")?.scheduledForDeletion).toBe(true);
    expect(await backend.read("old")).toBeUndefined();
  });
});

describe("aws backend: rotation through staging labels", () => {
  it("stages AWSPENDING, then promotes it: the old current becomes AWSPREVIOUS", async () => {
    const { sm, backend } = await setup();
    sm.seed("db", { secretString: '{"password":"one"}' });
    await backend.read("db");
    const rotationId = randomUUID();
    const staged = await backend.stagePending("db", Buffer.from('{"password":"two"}'), rotationId);
    expect(staged.versionId).toBe(rotationId);
    expect(await backend.stagePending("db", Buffer.from('{"password":"two"}'), rotationId)).toEqual(staged);
    expect((await backend.read("db"))?.bytes.toString()).toBe('{"password":"one"}');
    expect(await backend.readPending("db")).toMatchObject({ version: staged.version, versionId: rotationId });

    await backend.promote("db", rotationId);
    await backend.promote("db", rotationId);
    expect((await backend.read("db"))?.bytes.toString()).toBe('{"password":"two"}');
    const stages = Object.fromEntries((sm.secret("db")?.versions ?? []).map((version) => [version.versionId === rotationId ? "new" : "old", version.stages]));
    expect(stages).toEqual({ old: ["AWSPREVIOUS"], new: ["AWSCURRENT"] });
    expect(await backend.readPending("db")).toBeUndefined();
  });

  it("rolls a staged version back without touching the current one", async () => {
    const { sm, backend } = await setup();
    sm.seed("db", { secretString: "one" });
    const rotationId = randomUUID();
    await backend.stagePending("db", Buffer.from("two"), rotationId);
    await backend.discardPending("db", rotationId);
    await backend.discardPending("db", rotationId);
    expect(await backend.readPending("db")).toBeUndefined();
    expect((await backend.read("db"))?.bytes.toString()).toBe("one");
  });

  it("starts a managed rotation when a rotation Lambda is set, and says `conflict` when none is", async () => {
    const { sm, backend } = await setup();
    sm.seed("db", { secretString: '{"password":"one"}' }, { rotationLambdaArn: LAMBDA });
    sm.seed("plain", { secretString: "x" });
    const { versionId } = await backend.rotate("db", randomUUID());
    expect((await backend.read("db"))?.versionId).toBe(versionId);
    const error = await rejection(backend.rotate("plain", randomUUID()));
    expect(error.code).toBe("conflict");
    expect(error.message).toContain("aws/");
  });
});

describe("aws backend: errors and readiness", () => {
  it("answers AccessDeniedException with `forbidden` naming the mount", async () => {
    const { sm, backend } = await setup();
    sm.seed("prod/db", { secretString: "p" });
    sm.denyAccess("prod/*");
    const error = await rejection(backend.read("prod/db"));
    expect(error).toMatchObject({ code: "forbidden", status: 403 });
    expect(error.message).toBe("backend aws/ refused the broker access to prod/db (AWS: AccessDeniedException)");
  });

  it("answers InternalServiceError and throttling with 503 and counts them against the circuit", async () => {
    const { sm, table, backend } = await setup({ max_attempts: 1, circuit_breaker: { failure_threshold: 2 } });
    sm.seed("db", { secretString: "x" });
    sm.injectFault({ operation: "GetSecretValue", type: "InternalServiceError" });
    sm.injectFault({ operation: "GetSecretValue", type: "ThrottlingException" });
    expect((await rejection(backend.read("db"))).message).toBe("backend aws/ is unavailable (AWS answered 500)");
    expect((await rejection(backend.read("db"))).message).toBe("backend aws/ is unavailable (AWS is throttling the broker)");
    expect((await rejection(backend.read("db"))).message).toMatch(/circuit open/);
    expect(await metricValue(table.registry, "credbroker_backend_circuit_state", { mount: "aws/" })).toBe(2);
  });

  it("is ready when AWS answers the probe, even with access limited to other names; not when it is down", async () => {
    const { sm, backend } = await setup();
    sm.denyAccess("prod/*");
    await expect(backend.checkHealth()).resolves.toBeUndefined();
    expect(sm.requests().map((request) => [request.operation, request.errorType])).toEqual([["DescribeSecret", "ResourceNotFoundException"]]);
    await sm.setDown("refuse");
    await expect(backend.checkHealth()).rejects.toMatchObject({ code: "backend_unavailable" });
  });

  it("refuses to start when a named credential variable is not set", async () => {
    const error = await rejection(
      testMounts([{ path: "aws/", backend: "aws", region: "us-east-1", credentials: { access_key_id_env: "NOPE", secret_access_key_env: "S" } }], { env: { S: "x" } }),
    );
    expect(error).toMatchObject({ code: "invalid_request", message: "mount aws/: environment variable NOPE (credentials.access_key_id_env) is not set" });
  });
});
