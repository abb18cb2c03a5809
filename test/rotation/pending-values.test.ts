/**
 * The durable PendingValues on the real SQLite store and envelope: the first value kept wins, the
 * stored row holds no plaintext, and a sealed value opens only for its own rotation and secret.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import type { RotationRecord } from "../../src/domain.js";
import { storedPendingValues } from "../../src/rotation/pending-values.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const T0 = 1_700_000_000_000;
const VALUE = Buffer.from("pending-value-Zq8rT2vWx5yB7nM4kJ1h");

function rotation(id: string, secretPath: string): RotationRecord {
  return {
    id,
    secretPath,
    strategy: "generate",
    ruleRef: "policies/rotation.yaml:2#0",
    state: "running",
    lastStep: null,
    stepState: "{}",
    attempt: 1,
    errorCode: null,
    version: null,
    owner: "broker-a",
    leaseUntil: T0 + 60_000,
    createdAt: T0,
    updatedAt: T0,
    endedAt: null,
  };
}

describe("stored pending values", () => {
  let temp: TempStore;
  let keyDir: string;
  let envelope: Envelope;
  const pendingValues = () => storedPendingValues({ store: temp.store, envelope, clock: () => T0 });

  beforeEach(async () => {
    temp = openTempStore("pending");
    keyDir = mkdtempSync(join(tmpdir(), "credbroker-pending-"));
    envelope = new Envelope(MasterKeyRing.create(join(keyDir, "master.key")));
    await temp.store.insertRotation(rotation("r1", "prod/api"));
    await temp.store.insertRotation(rotation("r2", "prod/other"));
  });

  afterEach(async () => {
    await temp.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it("keeps the first value, across instances (a restarted broker), and stores it encrypted", async () => {
    expect(await pendingValues().read("r1")).toBeUndefined();
    expect((await pendingValues().keep("r1", VALUE)).equals(VALUE)).toBe(true);
    expect((await pendingValues().keep("r1", Buffer.from("a-second-value-that-must-lose-0000"))).equals(VALUE)).toBe(true);
    expect((await pendingValues().read("r1"))!.equals(VALUE)).toBe(true);
    const row = (await temp.store.getPendingValue("r1"))!;
    expect(row.ciphertext.includes(VALUE)).toBe(false);
    expect(row.wrappedKey.includes(VALUE)).toBe(false);
  });

  it("a sealed value moved to another rotation, or opened as a secret version, does not open", async () => {
    await pendingValues().keep("r1", VALUE);
    const row = (await temp.store.getPendingValue("r1"))!;
    await temp.store.keepPendingValue({ ...row, rotationId: "r2" });
    const moved = await pendingValues().read("r2").then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(moved).toMatchObject({ code: "internal" });
    expect(String((moved as Error).message)).not.toContain(VALUE.toString());
    for (const version of [0, 1]) expect(() => envelope.open({ path: "prod/api", version }, row)).toThrow(expect.objectContaining({ code: "internal" }));
  });

  it("refuses to keep a value for a rotation that does not exist", async () => {
    await expect(pendingValues().keep("missing", VALUE)).rejects.toMatchObject({ code: "not_found" });
    expect(await temp.store.getPendingValue("missing")).toBeUndefined();
  });
});
