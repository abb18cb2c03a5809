/** Broker tokens: signing key rotation with overlap, expiry on a frozen clock, the verified-token cache. */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SigningKeys } from "../../src/auth/signing-keys.js";
import { TokenService } from "../../src/auth/tokens.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import type { SqliteStore } from "../../src/store/sqlite.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

describe("broker tokens", () => {
  let temp: TempStore;
  let store: SqliteStore;
  let now: number;
  let keys: SigningKeys;
  let tokens: TokenService;
  const clock = () => now;

  beforeEach(async () => {
    now = Date.parse("2026-06-01T00:00:00Z");
    temp = openTempStore("tokens");
    store = temp.store;
    keys = new SigningKeys(store, new Envelope(MasterKeyRing.create(join(temp.dir, "k"))), clock);
    await keys.load();
    tokens = new TokenService(keys, { issuer: "http://broker", audience: "http://broker", ttlSeconds: 900, clock });
  });
  afterEach(() => temp.close());

  it("issues a token that verifies until it expires", async () => {
    const { token, claims } = await tokens.issue("github-mcp");
    expect(await tokens.verify(token)).toMatchObject({ serverId: "github-mcp", tokenId: claims.tokenId });
    now += 899_000;
    expect((await tokens.verify(token)).serverId).toBe("github-mcp");
    now += 10_000;
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: "invalid_token", message: "token expired" });
  });

  it("keeps verifying tokens of the previous key during the overlap, not after", async () => {
    const { token } = await tokens.issue("github-mcp");
    const oldKid = keys.signingKey().kid;
    const newKid = await keys.rotate(600);
    expect(newKid).not.toBe(oldKid);
    expect(keys.publicJwks().keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    expect((await tokens.verify(token)).kid).toBe(oldKid);
    now += 601_000;
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: "invalid_token" });
    expect(keys.publicJwks().keys.map((k) => k.kid)).toEqual([newKid]);
    const fresh = await tokens.issue("github-mcp");
    expect((await tokens.verify(fresh.token)).kid).toBe(newKid);
  });

  it("answers synchronously for a token verified before, only while it is unexpired and its key published", async () => {
    const { token } = await tokens.issue("github-mcp");
    expect(tokens.verifiedBefore(token)).toBeUndefined();
    const claims = await tokens.verify(token);
    expect(tokens.verifiedBefore(token)).toEqual(claims);
    // Another string is never taken for it, whatever it shares with the token.
    expect(tokens.verifiedBefore(`${token}x`)).toBeUndefined();
    now += 900_000;
    expect(tokens.verifiedBefore(token)).toBeUndefined();

    now = Date.parse("2026-06-01T00:00:00Z");
    const other = await tokens.issue("github-mcp");
    await tokens.verify(other.token);
    await keys.rotate(0);
    now += 1;
    expect(tokens.verifiedBefore(other.token)).toBeUndefined();
  });

  it("signing keys survive a restart, encrypted at rest", async () => {
    const { token } = await tokens.issue("a-server");
    const row = store.raw.prepare("SELECT private_jwk_ciphertext FROM signing_keys").get() as { private_jwk_ciphertext: Buffer };
    expect(row.private_jwk_ciphertext.toString("utf8")).not.toContain('"d"');
    const reloaded = new SigningKeys(store, new Envelope(MasterKeyRing.fromFile(join(temp.dir, "k"))), clock);
    await reloaded.load();
    const verifier = new TokenService(reloaded, { issuer: "http://broker", audience: "http://broker", ttlSeconds: 900, clock });
    expect((await verifier.verify(token)).serverId).toBe("a-server");
  });

  it("rejects a token for another audience", async () => {
    const other = new TokenService(keys, { issuer: "http://broker", audience: "http://elsewhere", ttlSeconds: 900, clock });
    const { token } = await other.issue("x-server");
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: "invalid_token" });
  });

  describe("with another broker sharing the store", () => {
    let other: SigningKeys;
    let otherTokens: TokenService;
    let listings: number;

    beforeEach(async () => {
      listings = 0;
      const counted = {
        listSigningKeys: () => {
          listings += 1;
          return store.listSigningKeys();
        },
        insertSigningKey: store.insertSigningKey.bind(store),
        retireSigningKey: store.retireSigningKey.bind(store),
      };
      other = new SigningKeys(counted, new Envelope(MasterKeyRing.fromFile(join(temp.dir, "k"))), clock);
      await other.load();
      otherTokens = new TokenService(other, { issuer: "http://broker", audience: "http://broker", ttlSeconds: 900, clock });
      listings = 0;
    });

    it("verifies tokens signed with a key the other broker rotated to, after one reload", async () => {
      const newKid = await keys.rotate(900);
      const { token } = await tokens.issue("github-mcp");
      expect((await otherTokens.verify(token)).kid).toBe(newKid);
      expect(listings).toBe(1);
      expect(other.publicJwks().keys.map((key) => key.kid)).toContain(newKid);
    });

    it("signs with the other broker's new key once its own keys are a minute old", async () => {
      const oldKid = other.signingKey().kid;
      const newKid = await keys.rotate(900);
      now += 59_000;
      expect((await otherTokens.issue("github-mcp")).claims.kid).toBe(oldKid);
      now += 1_000;
      expect((await otherTokens.issue("github-mcp")).claims.kid).toBe(newKid);
      // What it signs now verifies on the broker that rotated.
      const { token } = await otherTokens.issue("github-mcp");
      expect((await tokens.verify(token)).kid).toBe(newKid);
    });

    it("reloads for unknown kids at most every 5 s, so made-up kids cannot turn into a query each", async () => {
      const { SignJWT, generateKeyPair } = await import("jose");
      const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      const forged = () =>
        new SignJWT({})
          .setProtectedHeader({ alg: "EdDSA", kid: `bk-made-up-${Math.random()}`, typ: "at+jwt" })
          .setIssuer("http://broker")
          .setAudience("http://broker")
          .setSubject("github-mcp")
          .setJti("x")
          .setIssuedAt(now / 1000)
          .setExpirationTime(Math.floor(now / 1000) + 600)
          .sign(privateKey);
      for (let attempt = 0; attempt < 5; attempt += 1) {
        await expect(otherTokens.verify(await forged())).rejects.toMatchObject({ code: "invalid_token" });
      }
      expect(listings).toBe(1);
      now += 5_000;
      await expect(otherTokens.verify(await forged())).rejects.toMatchObject({ code: "invalid_token" });
      expect(listings).toBe(2);
    });
  });
});
