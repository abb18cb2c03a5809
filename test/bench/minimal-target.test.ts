/** The bench's calibration target: a real server doing the hot-path list, durable before it answers. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TargetProcess } from "../../bench/target-process.js";
import { newLease } from "../../src/leases/lease.js";
import { issuedSecret } from "../../src/secrets/read.js";

describe("bench calibration target (minimal hot path)", () => {
  let target: TargetProcess;
  beforeAll(async () => {
    target = await TargetProcess.start({ kind: "minimal" });
  }, 60_000);
  afterAll(async () => {
    await target?.stop();
  });

  it("answers a granted read in the broker's shape, after its audit record is committed", async () => {
    const broker = target.ready.broker!;
    const [name, value] = Object.entries(broker.secrets)[0]!;
    const before = (await target.auditCounts())["secret.read:allowed"] ?? 0;
    const response = await fetch(`${target.ready.url}/v1/secrets/${name}`, { headers: { authorization: `Bearer ${broker.token}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ name, value, encoding: "utf8", version: 1, renewable: false });
    expect(body.lease_id).toMatch(/^lease_[0-9a-f-]{36}$/);
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await target.auditCounts())["secret.read:allowed"]).toBe(before + 1);
    // The broker's answer, field for field and in its order: the same JSON work on both sides.
    const now = Date.now();
    const lease = newLease({ serverId: "s", secretPath: name, version: 1, now, terms: { defaultTtlSeconds: 900, maxTtlSeconds: 900 } });
    expect(Object.keys(body)).toEqual(Object.keys(issuedSecret("r", name, Buffer.from(value), lease, now)));
  });

  it.each([
    ["a token it never issued", { authorization: "Bearer not.a.jwt" }, `/v1/secrets/bench/secret-1`, 401],
    ["no token", {}, `/v1/secrets/bench/secret-1`, 401],
    ["a secret it does not grant", "token", `/v1/secrets/bench/other`, 403],
  ] as const)("refuses %s without committing a read", async (_title, headers, path, status) => {
    const broker = target.ready.broker!;
    const before = (await target.auditCounts())["secret.read:allowed"] ?? 0;
    const response = await fetch(`${target.ready.url}${path}`, { headers: headers === "token" ? { authorization: `Bearer ${broker.token}` } : headers });
    expect(response.status).toBe(status);
    expect((await target.auditCounts())["secret.read:allowed"] ?? 0).toBe(before);
  });
});
