/**
 * Proves the Secrets Manager test server is faithful enough to test the aws backend through the
 * real @aws-sdk/client-secrets-manager: every assertion goes through the SDK (or, for the
 * protocol-level checks, raw HTTP), the way backend code will.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
  UpdateSecretVersionStageCommand,
  paginateListSecrets,
} from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { startSecretsManagerTestServer, type SecretsManagerTestServer } from "../servers/aws-server.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotate-db";

/** Runs a call expected to fail and returns the error (fails the test if it resolves). */
async function failure(call: Promise<unknown>): Promise<SecretsManagerServiceException & { code?: string }> {
  try {
    await call;
  } catch (error) {
    return error as SecretsManagerServiceException & { code?: string };
  }
  throw new Error("expected the call to fail, it succeeded");
}

describe("Secrets Manager test server through @aws-sdk/client-secrets-manager", () => {
  let server: SecretsManagerTestServer;
  let client: SecretsManagerClient;

  beforeEach(async () => {
    server = await startSecretsManagerTestServer({ now: () => T0 });
    client = new SecretsManagerClient({
      endpoint: server.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      maxAttempts: 1,
    });
  });

  afterEach(async () => {
    client.destroy();
    await server.close();
  });

  describe("reading values", () => {
    it("gets AWSCURRENT by default, by stage, by version id, by name or ARN", async () => {
      const seeded = server.seed("prod/db", { secretString: '{"username":"app","password":"one"}' });
      expect(seeded.arn).toMatch(/^arn:aws:secretsmanager:us-east-1:123456789012:secret:prod\/db-[A-Za-z0-9]{6}$/);

      const current = await client.send(new GetSecretValueCommand({ SecretId: "prod/db" }));
      expect(current).toMatchObject({
        ARN: seeded.arn,
        Name: "prod/db",
        VersionId: seeded.versionId,
        SecretString: '{"username":"app","password":"one"}',
        VersionStages: ["AWSCURRENT"],
      });
      expect(current.SecretBinary).toBeUndefined();
      expect(current.CreatedDate).toEqual(new Date(T0));

      const byStage = await client.send(new GetSecretValueCommand({ SecretId: "prod/db", VersionStage: "AWSCURRENT" }));
      expect(byStage.VersionId).toBe(seeded.versionId);
      const byId = await client.send(new GetSecretValueCommand({ SecretId: seeded.arn, VersionId: seeded.versionId }));
      expect(byId.SecretString).toContain('"one"');
      const byPartialArn = await client.send(new GetSecretValueCommand({ SecretId: seeded.arn.slice(0, -7) }));
      expect(byPartialArn.Name).toBe("prod/db");
    });

    it("round-trips binary secrets as bytes", async () => {
      const bytes = new Uint8Array([0, 1, 2, 250, 251, 255]);
      await client.send(new CreateSecretCommand({ Name: "bin", SecretBinary: bytes }));
      const got = await client.send(new GetSecretValueCommand({ SecretId: "bin" }));
      expect(got.SecretString).toBeUndefined();
      expect(got.SecretBinary).toEqual(bytes);
    });

    it("surfaces not-found as the SDK's typed ResourceNotFoundException", async () => {
      const missing = await failure(client.send(new GetSecretValueCommand({ SecretId: "nope" })));
      expect(missing).toBeInstanceOf(ResourceNotFoundException);
      expect(missing.name).toBe("ResourceNotFoundException");
      expect(missing.message).toBe("Secrets Manager can't find the specified secret.");
      expect(missing.$fault).toBe("client");
      expect(missing.$metadata.httpStatusCode).toBe(400);

      server.seed("s", { secretString: "v" });
      const noStage = await failure(client.send(new GetSecretValueCommand({ SecretId: "s", VersionStage: "AWSPENDING" })));
      expect(noStage).toBeInstanceOf(ResourceNotFoundException);
      expect(noStage.message).toBe("Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
      const noVersion = await failure(client.send(new GetSecretValueCommand({ SecretId: "s", VersionId: "0".repeat(36) })));
      expect(noVersion.message).toMatch(/for VersionId: 0+$/);
    });
  });

  describe("versions and staging labels", () => {
    it("puts AWSPENDING, then promotes it with UpdateSecretVersionStage; AWSPREVIOUS follows", async () => {
      const v1 = server.seed("prod/db", { secretString: "one" }).versionId;
      const put = await client.send(new PutSecretValueCommand({ SecretId: "prod/db", SecretString: "two", VersionStages: ["AWSPENDING"] }));
      const v2 = put.VersionId ?? "";
      expect(put.VersionStages).toEqual(["AWSPENDING"]);
      expect((await client.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).SecretString).toBe("one");
      expect((await client.send(new GetSecretValueCommand({ SecretId: "prod/db", VersionStage: "AWSPENDING" }))).SecretString).toBe("two");

      const refused = await failure(
        client.send(new UpdateSecretVersionStageCommand({ SecretId: "prod/db", VersionStage: "AWSCURRENT", MoveToVersionId: v2 })),
      );
      expect(refused).toBeInstanceOf(InvalidParameterException);
      expect(refused.message).toBe(
        `The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version ${v1}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );

      await client.send(
        new UpdateSecretVersionStageCommand({ SecretId: "prod/db", VersionStage: "AWSCURRENT", MoveToVersionId: v2, RemoveFromVersionId: v1 }),
      );
      expect((await client.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).SecretString).toBe("two");
      expect((await client.send(new GetSecretValueCommand({ SecretId: "prod/db", VersionStage: "AWSPREVIOUS" }))).VersionId).toBe(v1);

      const described = await client.send(new DescribeSecretCommand({ SecretId: "prod/db" }));
      expect(described.VersionIdsToStages).toEqual({ [v1]: ["AWSPREVIOUS"], [v2]: ["AWSPENDING", "AWSCURRENT"] });
      expect(described.RotationEnabled).toBeUndefined();

      await client.send(new UpdateSecretVersionStageCommand({ SecretId: "prod/db", VersionStage: "AWSPENDING", RemoveFromVersionId: v2 }));
      const cannotRemove = await failure(
        client.send(new UpdateSecretVersionStageCommand({ SecretId: "prod/db", VersionStage: "AWSCURRENT", RemoveFromVersionId: v2 })),
      );
      expect(cannotRemove.message).toBe(
        "You can only move staging label AWSCURRENT to a different secret version. It can’t be completely removed.",
      );
    });

    it("moves AWSCURRENT on a default put and deprecates versions that lose every label", async () => {
      const v1 = server.seed("app", { secretString: "one" }).versionId;
      const v2 = (await client.send(new PutSecretValueCommand({ SecretId: "app", SecretString: "two" }))).VersionId;
      const v3 = (await client.send(new PutSecretValueCommand({ SecretId: "app", SecretString: "three" }))).VersionId;

      const listed = await client.send(new ListSecretVersionIdsCommand({ SecretId: "app" }));
      expect(listed.Versions?.map((v) => [v.VersionId, v.VersionStages])).toEqual([
        [v2, ["AWSPREVIOUS"]],
        [v3, ["AWSCURRENT"]],
      ]);
      const withDeprecated = await client.send(new ListSecretVersionIdsCommand({ SecretId: "app", IncludeDeprecated: true }));
      expect(withDeprecated.Versions?.map((v) => v.VersionId)).toEqual([v1, v2, v3]);
      expect((await client.send(new GetSecretValueCommand({ SecretId: "app", VersionId: v1 }))).SecretString).toBe("one");
    });

    it("is idempotent on ClientRequestToken and refuses to change an existing version", async () => {
      server.seed("app", { secretString: "one" });
      const token = "11111111-2222-3333-4444-555555555555";
      const first = await client.send(new PutSecretValueCommand({ SecretId: "app", SecretString: "two", ClientRequestToken: token }));
      const again = await client.send(new PutSecretValueCommand({ SecretId: "app", SecretString: "two", ClientRequestToken: token }));
      expect(first.VersionId).toBe(token);
      expect(again).toMatchObject({ VersionId: token, VersionStages: ["AWSCURRENT"] });
      expect(server.secret("app")?.versions).toHaveLength(2);

      const changed = await failure(client.send(new PutSecretValueCommand({ SecretId: "app", SecretString: "other", ClientRequestToken: token })));
      expect(changed).toBeInstanceOf(ResourceExistsException);
    });

    it("validates values and names as documented", async () => {
      server.seed("app", { secretString: "one" });
      const both = await failure(
        client.send(new PutSecretValueCommand({ SecretId: "app", SecretString: "x", SecretBinary: new Uint8Array([1]) })),
      );
      expect(both).toBeInstanceOf(InvalidParameterException);
      const none = await failure(client.send(new PutSecretValueCommand({ SecretId: "app" })));
      expect(none).toBeInstanceOf(InvalidRequestException);
      expect(none.message).toBe("You must provide either SecretString or SecretBinary.");

      const exists = await failure(client.send(new CreateSecretCommand({ Name: "app", SecretString: "x" })));
      expect(exists).toBeInstanceOf(ResourceExistsException);
      expect(exists.message).toBe("The operation failed because the secret app already exists.");
    });
  });

  describe("rotation", () => {
    it("refuses RotateSecret without a rotation Lambda", async () => {
      server.seed("db", { secretString: '{"password":"one"}' });
      const error = await failure(client.send(new RotateSecretCommand({ SecretId: "db" })));
      expect(error).toBeInstanceOf(InvalidRequestException);
      expect(error.message).toBe("No Lambda rotation function ARN is associated with this secret.");
    });

    it("rotates through AWSPENDING to AWSCURRENT, the old version becoming AWSPREVIOUS", async () => {
      const old = server.seed("db", { secretString: '{"username":"app","password":"one"}' }, { rotationLambdaArn: LAMBDA }).versionId;
      server.advanceClock(60);
      const rotated = await client.send(new RotateSecretCommand({ SecretId: "db" }));
      expect(rotated.VersionId).toEqual(expect.any(String));

      const current = await client.send(new GetSecretValueCommand({ SecretId: "db" }));
      expect(current.VersionId).toBe(rotated.VersionId);
      expect(current.VersionStages).toEqual(["AWSCURRENT"]);
      const value = JSON.parse(current.SecretString ?? "{}") as { username: string; password: string };
      expect(value.username).toBe("app");
      expect(value.password).not.toBe("one");
      expect((await client.send(new GetSecretValueCommand({ SecretId: "db", VersionStage: "AWSPREVIOUS" }))).VersionId).toBe(old);

      const described = await client.send(new DescribeSecretCommand({ SecretId: "db" }));
      expect(described).toMatchObject({ RotationEnabled: true, RotationLambdaARN: LAMBDA });
      expect(described.LastRotatedDate).toEqual(new Date(T0 + 60_000));
    });

    it("configures rotation on the call, and refuses a new rotation while one is unfinished", async () => {
      server.seed("db", { secretString: "one" });
      server.setRotationBehaviour({ outcome: "fail" }, "db");
      const first = await client.send(new RotateSecretCommand({ SecretId: "db", RotationLambdaARN: LAMBDA, RotationRules: { AutomaticallyAfterDays: 30 } }));
      const pending = await client.send(new GetSecretValueCommand({ SecretId: "db", VersionStage: "AWSPENDING" }));
      expect(pending.VersionId).toBe(first.VersionId);
      expect((await client.send(new GetSecretValueCommand({ SecretId: "db" }))).SecretString).toBe("one");

      const again = await failure(client.send(new RotateSecretCommand({ SecretId: "db" })));
      expect(again).toBeInstanceOf(InvalidRequestException);
      expect(again.message).toBe("A previous rotation isn't complete. That rotation will be reattempted.");
    });

    it("can leave the rotation in flight for a while (AWSPENDING visible, then promoted)", async () => {
      server.seed("db", { secretString: "one" }, { rotationLambdaArn: LAMBDA });
      server.setRotationBehaviour({ finishDelayMs: 200 });
      const rotated = await client.send(new RotateSecretCommand({ SecretId: "db" }));
      expect((await client.send(new GetSecretValueCommand({ SecretId: "db", VersionStage: "AWSPENDING" }))).VersionId).toBe(rotated.VersionId);
      expect((await client.send(new GetSecretValueCommand({ SecretId: "db" }))).SecretString).toBe("one");
      await expect
        .poll(async () => (await client.send(new GetSecretValueCommand({ SecretId: "db" }))).VersionId, { timeout: 3000, interval: 50 })
        .toBe(rotated.VersionId);
    });
  });

  describe("listing and lifecycle", () => {
    it("paginates ListSecrets with NextToken, with filters", async () => {
      for (const name of ["a/1", "a/2", "a/3", "b/1", "a/4"]) {
        server.seed(name, { secretString: "v" });
        server.advanceClock(1);
      }
      const first = await client.send(new ListSecretsCommand({ MaxResults: 2 }));
      expect(first.SecretList?.map((s) => s.Name)).toEqual(["a/1", "a/2"]);
      expect(first.NextToken).toEqual(expect.any(String));
      expect(first.SecretList?.[0]?.SecretVersionsToStages).toEqual({ [server.secret("a/1")?.versions[0]?.versionId ?? ""]: ["AWSCURRENT"] });

      const names: string[] = [];
      for await (const page of paginateListSecrets({ client, pageSize: 2 }, { Filters: [{ Key: "name", Values: ["a/"] }] })) {
        names.push(...(page.SecretList ?? []).map((s) => s.Name ?? ""));
      }
      expect(names).toEqual(["a/1", "a/2", "a/3", "a/4"]);

      const bad = await failure(client.send(new ListSecretsCommand({ NextToken: "garbage" })));
      expect(bad.name).toBe("InvalidNextTokenException");
    });

    it("schedules deletion, refuses reads meanwhile, restores, and force-deletes", async () => {
      server.seed("old", { secretString: "v" });
      const deleted = await client.send(new DeleteSecretCommand({ SecretId: "old", RecoveryWindowInDays: 7 }));
      expect(deleted.DeletionDate).toEqual(new Date(T0 + 7 * 86_400_000));
      const read = await failure(client.send(new GetSecretValueCommand({ SecretId: "old" })));
      expect(read).toBeInstanceOf(InvalidRequestException);
      expect(read.message).toBe("You can't perform this operation on the secret because it was marked for deletion.");
      expect((await client.send(new DescribeSecretCommand({ SecretId: "old" }))).DeletedDate).toEqual(new Date(T0));
      expect((await client.send(new ListSecretsCommand({}))).SecretList).toEqual([]);

      await client.send(new RestoreSecretCommand({ SecretId: "old" }));
      expect((await client.send(new GetSecretValueCommand({ SecretId: "old" }))).SecretString).toBe("v");

      await client.send(new DeleteSecretCommand({ SecretId: "old", ForceDeleteWithoutRecovery: true }));
      expect(await failure(client.send(new GetSecretValueCommand({ SecretId: "old" })))).toBeInstanceOf(ResourceNotFoundException);
    });
  });

  describe("access, protocol and outages", () => {
    it("denies access with AccessDeniedException, before revealing whether a secret exists", async () => {
      server.seed("prod/db", { secretString: "p" });
      server.seed("dev/db", { secretString: "d" });
      server.denyAccess("prod/*");

      const denied = await failure(client.send(new GetSecretValueCommand({ SecretId: "prod/db" })));
      expect(denied.name).toBe("AccessDeniedException");
      expect(denied.$metadata.httpStatusCode).toBe(400);
      expect(denied.message).toContain("is not authorized to perform: secretsmanager:GetSecretValue");
      expect((await failure(client.send(new GetSecretValueCommand({ SecretId: "prod/missing" })))).name).toBe("AccessDeniedException");
      expect((await client.send(new GetSecretValueCommand({ SecretId: "dev/db" }))).SecretString).toBe("d");

      server.allowAccess();
      server.denyAccess(true, { operations: ["PutSecretValue"] });
      expect((await client.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).SecretString).toBe("p");
      expect((await failure(client.send(new PutSecretValueCommand({ SecretId: "dev/db", SecretString: "x" })))).name).toBe(
        "AccessDeniedException",
      );
    });

    it("speaks JSON 1.1 and requires an Authorization header", async () => {
      server.seed("s", { secretString: "v" });
      const headers = { "content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue" };
      const unsigned = await fetch(server.endpoint, { method: "POST", headers, body: JSON.stringify({ SecretId: "s" }) });
      expect(unsigned.status).toBe(400);
      expect(await unsigned.json()).toEqual({
        __type: "com.amazon.coral.service#MissingAuthenticationTokenException",
        message: "Request is missing Authentication Token",
      });

      const badlySigned = await fetch(server.endpoint, {
        method: "POST",
        headers: { ...headers, authorization: "AWS4-HMAC-SHA256 Credential=test/20300101/us-east-1/secretsmanager/aws4_request" },
        body: JSON.stringify({ SecretId: "s" }),
      });
      expect(((await badlySigned.json()) as { __type: string }).__type).toBe("com.amazon.coral.service#IncompleteSignatureException");

      const log = server.requests();
      expect(log.map((r) => [r.operation, r.status, r.errorType])).toEqual([
        ["GetSecretValue", 400, "MissingAuthenticationTokenException"],
        ["GetSecretValue", 400, "IncompleteSignatureException"],
      ]);
    });

    it("answers injected server faults with 5xx InternalServiceError", async () => {
      server.seed("s", { secretString: "v" });
      server.injectFault({ operation: "GetSecretValue", type: "InternalServiceError" });
      const error = await failure(client.send(new GetSecretValueCommand({ SecretId: "s" })));
      expect(error).toBeInstanceOf(InternalServiceError);
      expect(error.$fault).toBe("server");
      expect(error.$metadata.httpStatusCode).toBe(500);
      expect((await client.send(new GetSecretValueCommand({ SecretId: "s" }))).SecretString).toBe("v");
    });

    it("makes outages and slowness observable to the SDK", async () => {
      server.seed("s", { secretString: "v" });
      await server.setDown(true);
      const reset = await failure(client.send(new GetSecretValueCommand({ SecretId: "s" })));
      expect(reset.$metadata?.httpStatusCode).toBeUndefined();
      // The SDK names a reset connection "TimeoutError"; the code tells what happened.
      expect(reset.code).toBe("ECONNRESET");

      await server.setDown("refuse");
      expect((await failure(client.send(new GetSecretValueCommand({ SecretId: "s" })))).code).toBe("ECONNREFUSED");
      await server.setDown(false);
      expect((await client.send(new GetSecretValueCommand({ SecretId: "s" }))).SecretString).toBe("v");

      const impatient = new SecretsManagerClient({
        endpoint: server.endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
        maxAttempts: 1,
        // Without throwOnRequestTimeout this SDK version only logs a warning when requestTimeout passes.
        requestHandler: { requestTimeout: 100, throwOnRequestTimeout: true },
      });
      try {
        server.setLatencyMs(300);
        expect((await failure(impatient.send(new GetSecretValueCommand({ SecretId: "s" })))).name).toBe("TimeoutError");
        server.setLatencyMs(0);
        await server.setDown("hang");
        expect((await failure(impatient.send(new GetSecretValueCommand({ SecretId: "s" })))).name).toBe("TimeoutError");
      } finally {
        impatient.destroy();
      }
    });
  });
});
