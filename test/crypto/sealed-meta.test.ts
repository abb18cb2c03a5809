/** Broker-internal sealed values (the audit HMAC key): one value even when brokers start at once. */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import { SealedMeta } from "../../src/crypto/sealed-meta.js";
import type { SqliteStore } from "../../src/store/sqlite.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

describe("sealed meta", () => {
  let temp: TempStore;
  let store: SqliteStore;
  let envelope: Envelope;

  beforeEach(() => {
    temp = openTempStore("sealed-meta");
    store = temp.store;
    envelope = new Envelope(MasterKeyRing.create(join(temp.dir, "master.key")));
  });
  afterEach(() => temp.close());

  it("creates the value once and returns the same one afterwards, sealed at rest", async () => {
    const first = await new SealedMeta(store, envelope).getOrCreate("audit_hmac_key", 32);
    const again = await new SealedMeta(store, envelope).getOrCreate("audit_hmac_key", 32);
    expect(again.equals(first)).toBe(true);
    expect(await store.getMeta("sealed:audit_hmac_key")).not.toContain(first.toString("base64"));
  });

  it("gives brokers that both found no value the one that was stored first", async () => {
    // Both read "absent" before either writes: the race of two brokers' first start.
    let absentReads = 0;
    const bothMiss = {
      getMeta: async (key: string) => (absentReads++ < 2 ? undefined : store.getMeta(key)),
      setMeta: store.setMeta.bind(store),
      setMetaIfAbsent: store.setMetaIfAbsent.bind(store),
    };
    const [a, b] = await Promise.all([
      new SealedMeta(bothMiss, envelope).getOrCreate("audit_hmac_key", 32),
      new SealedMeta(bothMiss, envelope).getOrCreate("audit_hmac_key", 32),
    ]);
    expect(a.equals(b)).toBe(true);
    expect((await new SealedMeta(store, envelope).getOrCreate("audit_hmac_key", 32)).equals(a)).toBe(true);
  });
});
