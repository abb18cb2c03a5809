/**
 * The attacker's view of broker tokens: forged, tampered, foreign, expired and not-yet-valid
 * tokens are refused.
 *
 * Every rejection is a 4xx (401/403/400/429, never 500), names no secret value, and leaves a
 * `denied` audit record; the broker keeps serving.
 */
import { SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { createPublicKey, randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { b64url, expectBrokerError, expectDeniedAudit, expectHealthy, hs256Jwt, nowSeconds, splitJwt, startAttackTarget, unsecuredJwt, type AttackTarget } from "../helpers/attack-kit.js";
import { readAs, publishedKey, attackerKey, TOKEN_TTL_SECONDS } from "../helpers/token-attacks.js";

describe("broker tokens the broker did not issue, or issued differently, are refused (401 invalid_token)", () => {
  let target: AttackTarget;
  let realKid: string;
  let published: JWK & { kid: string; x: string };
  let attacker: { privateKey: CryptoKey; publicJwk: JWK };

  beforeAll(async () => {
    target = await startAttackTarget();
    published = await publishedKey(target);
    realKid = published.kid;
    attacker = await attackerKey();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  /** Claims exactly like a real token of server-a, so only the one thing under test is wrong. */
  const claims = (overrides: Record<string, unknown> = {}): JWTPayload => {
    const now = nowSeconds();
    const base: Record<string, unknown> = { iss: target.tb.url, aud: target.tb.url, sub: "server-a", jti: randomUUID(), iat: now, nbf: now, exp: now + 600 };
    for (const [claim, value] of Object.entries(overrides)) {
      if (value === undefined) delete base[claim];
      else base[claim] = value;
    }
    return base as JWTPayload;
  };
  const header = (overrides: Record<string, unknown> = {}) => ({ alg: "EdDSA", typ: "at+jwt", kid: realKid, ...overrides });
  const signWith = (key: CryptoKey, payload: JWTPayload, protectedHeader: Record<string, unknown>) =>
    new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key);
  /** Signs with the broker's own private key, as if it had leaked: only the claim checks stand in the way. */
  const signAsBroker = (payload: JWTPayload, protectedHeader = header()) => signWith(target.tb.broker.deps.signingKeys.signingKey().privateKey, payload, protectedHeader);
  const tamper = async (change: (parts: { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string }) => string) =>
    change(splitJwt(await target.token("server-a")));

  const cases: Array<{ name: string; token: () => Promise<string>; reason?: RegExp }> = [
    // unsigned and MAC-signed
    { name: "alg: none with the broker's kid", token: async () => unsecuredJwt(header(), claims()) },
    { name: "alg: NONE (upper case)", token: async () => `${b64url(header({ alg: "NONE" }))}.${b64url(claims())}.` },
    { name: "alg: none and no signature segment at all", token: async () => `${b64url(header({ alg: "none" }))}.${b64url(claims())}` },
    { name: "HS256 keyed with the broker's public key bytes (JWK x)", token: async () => hs256Jwt(header(), claims(), Buffer.from(published.x, "base64url")) },
    { name: "HS256 keyed with the public key's base64url text", token: async () => hs256Jwt(header(), claims(), published.x) },
    { name: "HS256 keyed with the published JWK JSON", token: async () => hs256Jwt(header(), claims(), JSON.stringify(published)) },
    {
      name: "HS256 keyed with the public key as SPKI PEM",
      token: async () => hs256Jwt(header(), claims(), createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: published.x }, format: "jwk" }).export({ type: "spki", format: "pem" })),
    },
    // signed by a key the attacker controls
    { name: "EdDSA by an attacker's key under the broker's kid", token: () => signWith(attacker.privateKey, claims(), header()) },
    { name: "EdDSA by an attacker's key under its own kid", token: () => signWith(attacker.privateKey, claims(), header({ kid: "attacker-key" })) },
    { name: "EdDSA by an attacker's key embedded in the header (jwk)", token: () => signWith(attacker.privateKey, claims(), header({ kid: undefined, jwk: attacker.publicJwk })) },
    { name: "EdDSA by an attacker's key named by a jku URL", token: () => signWith(attacker.privateKey, claims(), header({ kid: "attacker-key", jku: "http://127.0.0.1:1/jwks.json" })) },
    { name: "expired, signed by an attacker's key", token: () => signWith(attacker.privateKey, claims({ iat: nowSeconds() - 7200, nbf: nowSeconds() - 7200, exp: nowSeconds() - 3600 }), header()) },
    { name: "not yet valid, signed by an attacker's key", token: () => signWith(attacker.privateKey, claims({ iat: nowSeconds() + 3600, nbf: nowSeconds() + 3600, exp: nowSeconds() + 7200 }), header()) },
    // a real token, altered
    { name: "a real token of server-a with sub changed to server-b", token: () => tamper((t) => `${b64url(t.header)}.${b64url({ ...t.payload, sub: "server-b" })}.${t.signature}`), reason: /signature/ },
    { name: "a real token with exp pushed a year ahead", token: () => tamper((t) => `${b64url(t.header)}.${b64url({ ...t.payload, exp: Number(t.payload.exp) + 365 * 86400 })}.${t.signature}`) },
    { name: "a real token with its header switched to alg: none", token: () => tamper((t) => `${b64url({ ...t.header, alg: "none" })}.${b64url(t.payload)}.`) },
    { name: "a real token with its signature removed", token: () => tamper((t) => `${b64url(t.header)}.${b64url(t.payload)}.`) },
    { name: "a real token with one signature byte flipped", token: () => tamper((t) => { const sig = Buffer.from(t.signature, "base64url"); sig[0]! ^= 1; return `${b64url(t.header)}.${b64url(t.payload)}.${sig.toString("base64url")}`; }) },
    { name: "a real token's header and payload with another real token's signature", token: async () => { const one = (await target.token("server-a")).split("."); const two = (await target.token("server-b")).split("."); return `${one[0]}.${two[1]}.${one[2]}`; } },
    // the broker's own key, wrong claims (each claim check must hold on its own)
    { name: "broker-signed but expired an hour ago", token: () => signAsBroker(claims({ iat: nowSeconds() - 7200, nbf: nowSeconds() - 7200, exp: nowSeconds() - 3600 })), reason: /expired/ },
    { name: "broker-signed but not valid for another hour (nbf)", token: () => signAsBroker(claims({ nbf: nowSeconds() + 3600, iat: nowSeconds() + 3600, exp: nowSeconds() + 7200 })), reason: /not yet valid/ },
    { name: "broker-signed, issued an hour in the future (iat) with no nbf", token: () => signAsBroker(claims({ nbf: undefined, iat: nowSeconds() + 3600, exp: nowSeconds() + 7200 })) },
    { name: "broker-signed for another audience", token: () => signAsBroker(claims({ aud: "https://other-service.example" })) },
    { name: "broker-signed by another issuer", token: () => signAsBroker(claims({ iss: "https://evil.example" })) },
    { name: "broker-signed without exp", token: () => signAsBroker(claims({ exp: undefined })) },
    { name: "broker-signed without jti", token: () => signAsBroker(claims({ jti: undefined })) },
    { name: "broker-signed without sub", token: () => signAsBroker(claims({ sub: undefined })) },
    { name: "broker-signed with sub as an array", token: () => signAsBroker(claims({ sub: ["server-a"] })) },
    { name: "broker-signed with typ JWT instead of at+jwt", token: () => signAsBroker(claims(), header({ typ: "JWT" })) },
    { name: "broker-signed for a server that is not registered", token: () => signAsBroker(claims({ sub: "ghost-server" })), reason: /unknown_server/ },
  ];

  describe.each(cases)("$name", ({ token, reason }) => {
    it("answers 401 invalid_token, releases nothing, and keeps serving", async () => {
      const response = await readAs(target, await token(), ["a/token", "b/token"]);
      expectBrokerError(response, 401, "invalid_token", target.material());
      expect(response.headers["x-request-id"]).toBeTruthy();
      await expectHealthy(target.tb);
    });

    it("records a denied auth.verify audit event", async () => {
      const response = await readAs(target, await token());
      expect(response.status).toBe(401);
      await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", reason: reason ?? /invalid_token|unknown_server/ });
    });
  });

  it("the untouched real token still works (the forgeries above are refused for their flaw alone)", async () => {
    const response = await readAs(target, await target.token("server-a"));
    expect(response.status, response.text).toBe(200);
  });
});

// =============================================================================================

describe("real broker tokens expire and are not valid before their time (injected clock)", () => {
  let target: AttackTarget;
  let now: number;

  beforeEach(async () => {
    now = Date.parse("2030-01-15T10:00:00Z");
    target = await startAttackTarget({ clock: () => now });
  });
  afterEach(async () => {
    await target?.tb.close();
  });

  it("a token stops working once it has expired, even though it was accepted (and cached) before", async () => {
    const token = await target.token("server-a");
    expect((await readAs(target, token)).status).toBe(200);
    now += (TOKEN_TTL_SECONDS - 10) * 1000;
    expect((await readAs(target, token)).status, "still valid 10 s before exp").toBe(200);
    now += 20 * 1000;
    const response = await readAs(target, token);
    const { error } = expectBrokerError(response, 401, "invalid_token", target.material());
    expect(error.message).toMatch(/expired/);
    await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", reason: /expired/ });
  });

  it("a token presented before its nbf (this broker's clock a minute behind the issuer's) is refused", async () => {
    const token = await target.token("server-a");
    now -= 60 * 1000;
    const response = await readAs(target, token);
    const { error } = expectBrokerError(response, 401, "invalid_token", target.material());
    expect(error.message).toMatch(/not yet valid/);
    await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", reason: /not yet valid/ });
    now += 60 * 1000;
    expect((await readAs(target, token)).status, "valid again once its time has come").toBe(200);
  });

  it("a token that is a few seconds early is accepted (the 5 s clock tolerance), one that is 10 s early is not", async () => {
    const token = await target.token("server-a");
    now -= 10 * 1000;
    expect((await readAs(target, token)).status).toBe(401);
    now += 7 * 1000;
    expect((await readAs(target, token)).status).toBe(200);
  });
});

// =============================================================================================

describe("a token issued by another broker is refused", () => {
  const cases = [
    { name: "a broker at another URL (different issuer, different key)", config: {} },
    { name: "a broker with the same public_url (same issuer and audience, different key)", config: { public_url: "https://broker.example.test" } },
  ];

  describe.each(cases)("$name", ({ config }) => {
    let first: AttackTarget;
    let second: AttackTarget;
    beforeAll(async () => {
      first = await startAttackTarget({ config });
      second = await startAttackTarget({ config });
    });
    afterAll(async () => {
      await first?.tb.close();
      await second?.tb.close();
    });

    it("server-a's token from the second broker gets 401 invalid_token on the first, audited as denied", async () => {
      const foreign = await second.token("server-a");
      expect((await readAs(second, foreign)).status, "the token works where it was issued").toBe(200);
      const response = await readAs(first, foreign);
      expectBrokerError(response, 401, "invalid_token", [...first.material(), ...second.material()]);
      await expectDeniedAudit(first.tb, response, first.material(), { action: "auth.verify", reason: /invalid_token/ });
      await expectHealthy(first.tb);
    });
  });
});
