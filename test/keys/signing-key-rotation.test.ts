/** Signing-key rotation as an operator runs it: a new key, the old one verifying for the overlap, audited and published. */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditWriter } from "../../src/audit/writer.js";
import { rotateSigningKey } from "../../src/keys/signing-key-rotation.js";
import { SigningKeys } from "../../src/auth/signing-keys.js";
import { TokenService } from "../../src/auth/tokens.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import { EventBus, type BrokerEvent } from "../../src/events/bus.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const operator = { id: "alice", kind: "operator" as const, tokenRef: "ref-alice" };
const meta = { requestId: "req-rotate", sourceIp: "10.0.0.5" };

describe("rotateSigningKey", () => {
  let temp: TempStore;
  let keys: SigningKeys;
  let tokens: TokenService;
  let audit: AuditWriter;
  let events: BrokerEvent[];
  let bus: EventBus;
  let now: number;
  const clock = () => now;

  beforeEach(async () => {
    now = Date.parse("2026-06-01T00:00:00Z");
    temp = openTempStore("signing-rotation");
    keys = new SigningKeys(temp.store, new Envelope(MasterKeyRing.create(join(temp.dir, "k"))), clock);
    await keys.load();
    tokens = new TokenService(keys, { issuer: "http://broker", audience: "http://broker", ttlSeconds: 900, clock });
    audit = new AuditWriter(temp.store, undefined);
    bus = new EventBus();
    events = [];
    bus.subscribe((event) => events.push(event));
  });
  afterEach(() => temp.close());

  it("signs with the new key at once, verifies the old key's tokens for the overlap, audits and publishes the new kid", async () => {
    const before = await tokens.issue("github-mcp");
    const oldKid = keys.signingKey().kid;

    const { kid } = await rotateSigningKey({ signingKeys: keys, audit, events: bus, overlapSeconds: 900, clock }, operator, meta);

    expect(kid).not.toBe(oldKid);
    expect(keys.signingKey().kid).toBe(kid);
    expect((await tokens.verify(before.token)).kid).toBe(oldKid);
    now += 901_000;
    await expect(tokens.verify(before.token)).rejects.toMatchObject({ code: "invalid_token" });
    expect(events).toEqual([expect.objectContaining({ type: "signing_keys.changed", kid })]);
    const records = await temp.store.queryAudit({ limit: 100 });
    expect(records.map(({ actor, actorKind, action, resource, outcome, requestId, sourceIp, tokenRef }) => ({ actor, actorKind, action, resource, outcome, requestId, sourceIp, tokenRef }))).toEqual([
      { actor: "alice", actorKind: "operator", action: "admin.keys.rotate_signing", resource: kid, outcome: "allowed", requestId: "req-rotate", sourceIp: "10.0.0.5", tokenRef: "ref-alice" },
    ]);
  });

  it("publishes and audits nothing when the new key cannot be stored", async () => {
    const failing = { rotate: () => Promise.reject(new Error("disk full")) };
    await expect(rotateSigningKey({ signingKeys: failing, audit, events: bus, overlapSeconds: 900, clock }, operator, meta)).rejects.toThrow("disk full");
    expect(events).toEqual([]);
    expect(await temp.store.queryAudit({ limit: 100 })).toEqual([]);
  });
});
