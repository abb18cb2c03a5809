/** The local encrypted store: envelope encryption bound to path and version, master key rotation. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { AuditWriter } from "../../src/audit/writer.js";
import { rotateMasterKey } from "../../src/keys/master-key-rotation.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import { SealedMeta } from "../../src/crypto/sealed-meta.js";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite.js";
import { TEST_CHAIN_KEY } from "../helpers/chain-key.js";
import { testSecret } from "../helpers/broker.js";

describe("local encrypted store", () => {
  let dir: string;
  let store: SqliteStore;
  let ring: MasterKeyRing;
  let envelope: Envelope;
  let local: LocalBackend;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-crypto-"));
    store = openSqliteStore({ file: join(dir, "db.sqlite") });
    store.useAuditChainKey(TEST_CHAIN_KEY);
    ring = MasterKeyRing.create(join(dir, "master.key"));
    envelope = new Envelope(ring);
    local = new LocalBackend(store, envelope);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every version and reads current or a given one", async () => {
    const [v1, v2] = [testSecret("v1"), testSecret("v2")];
    expect(await local.write("app/key", Buffer.from(v1), { createdBy: "t" })).toBe(1);
    expect(await local.write("app/key", Buffer.from(v2), { createdBy: "t" })).toBe(2);
    expect((await local.read("app/key"))?.bytes.toString()).toBe(v2);
    expect((await local.read("app/key", 1))?.bytes.toString()).toBe(v1);
    expect(await local.read("app/key", 3)).toBeUndefined();
    expect(await local.read("app/missing")).toBeUndefined();
  });

  it("leaves nothing readable in the database file", async () => {
    const value = testSecret("plain");
    await local.write("app/plain", Buffer.from(value), { createdBy: "t" });
    await store.close();
    const bytes = readFileSync(join(dir, "db.sqlite"));
    const wal = (() => {
      try {
        return readFileSync(join(dir, "db.sqlite-wal"));
      } catch {
        return Buffer.alloc(0);
      }
    })();
    expect(bytes.includes(Buffer.from(value))).toBe(false);
    expect(wal.includes(Buffer.from(value))).toBe(false);
    store = openSqliteStore({ file: join(dir, "db.sqlite") });
    store.useAuditChainKey(TEST_CHAIN_KEY);
  });

  it.each([
    ["ciphertexts swapped between two paths", "UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE path = 'b/two'), wrapped_key = (SELECT wrapped_key FROM secret_versions WHERE path = 'b/two') WHERE path = 'a/one'"],
    ["a version renumbered", "UPDATE secret_versions SET version = 1 WHERE path = 'a/one' AND version = 2; UPDATE secrets SET current_version = 1 WHERE path = 'a/one'"],
    ["a flipped ciphertext byte", "UPDATE secret_versions SET ciphertext = zeroblob(length(ciphertext)) WHERE path = 'a/one'"],
  ])("refuses to open a row after %s", async (_what, tamper) => {
    await local.write("a/one", Buffer.from(testSecret("one")), { createdBy: "t" });
    store.raw.exec("DELETE FROM secret_versions WHERE path = 'a/one' AND version = 1");
    await local.write("a/one", Buffer.from(testSecret("one-v2")), { createdBy: "t" });
    await local.write("b/two", Buffer.from(testSecret("two")), { createdBy: "t" });
    store.raw.exec(tamper);
    await expect(local.read("a/one")).rejects.toMatchObject({ code: "internal", message: "a stored value could not be decrypted" });
  });

  it("checks a tampered wrapped key even after the row's data key was cached by an earlier read", async () => {
    await local.write("c/cached", Buffer.from(testSecret("cached")), { createdBy: "t" });
    expect((await local.read("c/cached"))?.bytes.toString()).toMatch(/^s3cr3t-VALUE-cached/);
    // A second store (no row cache yet), the same envelope (its data key cache is warm).
    const readerStore = openSqliteStore({ file: join(dir, "db.sqlite"), offThreadCommits: false });
    const reader = new LocalBackend(readerStore, envelope);
    store.raw.exec("UPDATE secret_versions SET wrapped_key = zeroblob(length(wrapped_key)) WHERE path = 'c/cached'");
    await expect(reader.read("c/cached")).rejects.toMatchObject({ message: "a stored value could not be decrypted" });
    await readerStore.close();
  });

  it("rotates the master key, re-wraps every data key, and old rows still open", async () => {
    const values = await Promise.all([1, 2, 3].map(async (i) => {
      const value = testSecret(`rot${i}`);
      await local.write(`rot/s${i}`, Buffer.from(value), { createdBy: "t" });
      return value;
    }));
    const oldKey = ring.activeKeyId;
    const audit = new AuditWriter(store, undefined);
    const result = await rotateMasterKey({ store, envelope, sealedMeta: new SealedMeta(store, envelope), audit, clock: Date.now }, { id: "ops", kind: "operator" }, { requestId: "req-rot", sourceIp: null });
    expect(await store.queryAudit({ action: "admin.keys.rotate_master", limit: 10 })).toEqual([
      expect.objectContaining({ actor: "ops", resource: result.keyId, outcome: "allowed", reason: "3 data keys re-wrapped", requestId: "req-rot" }),
    ]);
    expect(result.keyId).not.toBe(oldKey);
    expect(result.rewrapped).toBe(3);
    expect(store.raw.prepare("SELECT count(*) AS n FROM secret_versions WHERE key_id = ?").get(oldKey)).toEqual({ n: 0 });
    for (const [i, value] of values.entries()) expect((await local.read(`rot/s${i + 1}`))?.bytes.toString()).toBe(value);
    // The persisted ring now holds both keys; a restart reads the same values.
    const reloaded = new LocalBackend(store, new Envelope(MasterKeyRing.fromFile(join(dir, "master.key"))));
    expect((await reloaded.read("rot/s1"))?.bytes.toString()).toBe(values[0]);
  });

  it("refuses a key file readable by others, and a malformed one", () => {
    const file = join(dir, "master.key");
    chmodSync(file, 0o644);
    expect(() => MasterKeyRing.fromFile(file)).toThrow(/chmod 600/);
    chmodSync(file, 0o600);
    writeFileSync(file, "{}", { mode: 0o600 });
    expect(() => MasterKeyRing.fromFile(file)).toThrow(/not a credbroker key ring/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("takes one key from CREDBROKER_MASTER_KEY and refuses to rotate it in place", () => {
    const env = MasterKeyRing.fromEnvironment(Buffer.alloc(32, 7).toString("base64"));
    expect(env.activeKeyId).toMatch(/^env-[0-9a-f]{12}$/);
    expect(() => env.rotate()).toThrow(/master_key_file/);
    expect(() => MasterKeyRing.fromEnvironment("c2hvcnQ=")).toThrow(/32 bytes/);
  });
});
