/**
 * The attacker's view of RFC 7523 `private_key_jwt` client assertions: forged, misdirected and
 * replayed assertions are refused.
 *
 * Every rejection is a 4xx (401/403/400/429, never 500), names no secret value, and leaves a
 * `denied` audit record; the broker keeps serving.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import { b64url, expectBrokerError, expectDeniedAudit, expectHealthy, expectOAuthError, hs256Jwt, nowSeconds, rawRequest, startAttackTarget, unsecuredJwt, type AttackTarget } from "../helpers/attack-kit.js";
import { readAs, tokenRequest, form, attackerKey, CLIENT_ASSERTION_TYPE } from "../helpers/token-attacks.js";

describe("RFC 7523 private_key_jwt client assertions", () => {
  let target: AttackTarget;
  let clientKey: { privateKey: CryptoKey; publicJwk: JWK };
  let otherKey: { privateKey: CryptoKey; publicJwk: JWK };
  const jwtValue = testSecret("jwt-token");

  beforeAll(async () => {
    target = await startAttackTarget();
    clientKey = await attackerKey();
    otherKey = await attackerKey();
    const clientSecret = await target.tb.registerServer("jwt-server", { public_jwk: clientKey.publicJwk, no_secret: true });
    expect(clientSecret, "no client secret for a key-only server").toBeNull();
    await target.tb.putSecret("jwt/token", jwtValue);
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const material = () => [...target.material(), jwtValue];
  const tokenEndpoint = () => `${target.tb.url}/v1/auth/token`;

  const assertionClaims = (overrides: Record<string, unknown> = {}): JWTPayload => {
    const now = nowSeconds();
    const base: Record<string, unknown> = { iss: "jwt-server", sub: "jwt-server", aud: tokenEndpoint(), iat: now, exp: now + 120, jti: randomUUID() };
    for (const [claim, value] of Object.entries(overrides)) {
      if (value === undefined) delete base[claim];
      else base[claim] = value;
    }
    return base as JWTPayload;
  };
  const sign = (payload: JWTPayload = assertionClaims(), key: CryptoKey = clientKey.privateKey, alg = "EdDSA") =>
    new SignJWT(payload).setProtectedHeader({ alg }).sign(key);
  const present = (assertion: string, clientId = "jwt-server", format: "form" | "json" = "form") => {
    const fields = { grant_type: "client_credentials", client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion };
    return tokenRequest(target, format === "form" ? { form: form(fields) } : { json: fields });
  };

  it("a valid assertion (iss = sub = client_id, aud = the token endpoint, exp within 5 min, jti) gets a token that reads the server's secret", async () => {
    const response = await present(await sign());
    expect(response.status, response.text).toBe(200);
    const { access_token } = response.body as { access_token: string };
    const read = await readAs(target, access_token, ["jwt/token"]);
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ secrets: { "jwt/token": { value: jwtValue } } });
  });

  it("a valid assertion sent as JSON works too", async () => {
    expect((await present(await sign(), "jwt-server", "json")).status).toBe(200);
  });

  it("replaying the same assertion fails with invalid_client, audited as denied", async () => {
    const assertion = await sign();
    expect((await present(assertion)).status).toBe(200);
    const replay = await present(assertion);
    const { error_description } = expectOAuthError(replay, 401, "invalid_client", material());
    expect(error_description).toMatch(/already used/);
    await expectDeniedAudit(target.tb, replay, material(), { action: "auth.token", actor: "jwt-server", reason: /invalid_assertion/ });
  });

  it("a new assertion that reuses a spent jti fails with invalid_client", async () => {
    const jti = randomUUID();
    expect((await present(await sign(assertionClaims({ jti })))).status).toBe(200);
    expectOAuthError(await present(await sign(assertionClaims({ jti, exp: nowSeconds() + 200 }))), 401, "invalid_client", material());
  });

  const now = () => nowSeconds();
  const cases: Array<{ name: string; assertion: () => Promise<string>; clientId?: string }> = [
    { name: "a wrong audience", assertion: () => sign(assertionClaims({ aud: "https://evil.example/v1/auth/token" })) },
    { name: "another broker's token endpoint as audience", assertion: () => sign(assertionClaims({ aud: "http://127.0.0.1:1/v1/auth/token" })) },
    { name: "no audience", assertion: () => sign(assertionClaims({ aud: undefined })) },
    { name: "expired a minute ago", assertion: () => sign(assertionClaims({ iat: now() - 180, exp: now() - 60 })) },
    { name: "exp 10 minutes ahead (more than 5 min)", assertion: () => sign(assertionClaims({ exp: now() + 600 })) },
    { name: "exp a year ahead", assertion: () => sign(assertionClaims({ exp: now() + 365 * 86400 })) },
    { name: "no exp", assertion: () => sign(assertionClaims({ exp: undefined })) },
    { name: "no jti", assertion: () => sign(assertionClaims({ jti: undefined })) },
    { name: "not valid before a minute from now (nbf)", assertion: () => sign(assertionClaims({ nbf: now() + 60 })) },
    { name: "iss another server", assertion: () => sign(assertionClaims({ iss: "server-a" })) },
    { name: "sub another server", assertion: () => sign(assertionClaims({ sub: "server-a" })) },
    { name: "signed by another key", assertion: () => sign(assertionClaims(), otherKey.privateKey) },
    { name: "alg: none", assertion: async () => unsecuredJwt({ typ: "JWT" }, assertionClaims()) },
    { name: "HS256 keyed with the registered public key bytes", assertion: async () => hs256Jwt({ typ: "JWT" }, assertionClaims(), Buffer.from(String(clientKey.publicJwk.x), "base64url")) },
    { name: "HS256 keyed with the registered JWK JSON", assertion: async () => hs256Jwt({ typ: "JWT" }, assertionClaims(), JSON.stringify(clientKey.publicJwk)) },
    { name: "ES256 in the header over an Ed25519 signature", assertion: async () => { const [h, p, s] = (await sign()).split("."); return `${b64url({ ...JSON.parse(Buffer.from(h!, "base64url").toString()), alg: "ES256" })}.${p}.${s}`; } },
    { name: "a tampered payload (sub kept, exp extended)", assertion: async () => { const [h, p, s] = (await sign()).split("."); return `${h}.${b64url({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), exp: now() + 290, jti: randomUUID() })}.${s}`; } },
    { name: "a broker access token instead of an assertion", assertion: async () => target.token("server-a") },
    { name: "garbage", assertion: async () => "not.a.jwt" },
    { name: "a valid assertion of jwt-server presented for server-a", assertion: () => sign(), clientId: "server-a" },
    { name: "a valid assertion of jwt-server presented for an unknown client", assertion: () => sign(), clientId: "nobody" },
  ];

  describe.each(cases)("with $name", ({ assertion, clientId }) => {
    it("answers 401 invalid_client and issues no token", async () => {
      const response = await present(await assertion(), clientId);
      expectOAuthError(response, 401, "invalid_client", material());
      expect(response.body).not.toHaveProperty("access_token");
      await expectHealthy(target.tb);
    });

    it("records a denied auth.token audit event", async () => {
      const response = await present(await assertion(), clientId);
      expect(response.status).toBe(401);
      await expectDeniedAudit(target.tb, response, material(), { action: "auth.token" });
    });
  });

  it("a client secret for the key-only server is refused with invalid_client", async () => {
    const response = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "jwt-server", client_secret: target.clientSecrets["server-a"] } });
    expectOAuthError(response, 401, "invalid_client", material());
    await expectDeniedAudit(target.tb, response, material(), { action: "auth.token", actor: "jwt-server" });
  });

  it("registering a private JWK as the server's public key is refused (400), and nothing leaks the private part", async () => {
    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const response = await rawRequest(target.tb.url, {
      method: "POST",
      target: "/v1/admin/servers",
      headers: { authorization: `Bearer ${target.tb.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ id: "leaky-server", public_jwk: privateJwk, no_secret: true }),
    });
    expectBrokerError(response, 400, "invalid_request", [...material(), String(privateJwk.d)]);
  });
});

// =============================================================================================

describe("RFC 7523 replay protection holds for as long as the assertion is accepted (injected clock)", () => {
  let target: AttackTarget;
  let now: number;
  let clientKey: { privateKey: CryptoKey; publicJwk: JWK };

  beforeEach(async () => {
    now = Date.parse("2030-06-01T12:00:00Z");
    target = await startAttackTarget({ clock: () => now });
    clientKey = await attackerKey();
    await target.tb.registerServer("jwt-server", { public_jwk: clientKey.publicJwk, no_secret: true });
  });
  afterEach(async () => {
    await target?.tb.close();
  });

  const present = (assertion: string) =>
    tokenRequest(target, { form: form({ grant_type: "client_credentials", client_id: "jwt-server", client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion }) });

  it.each([
    ["1 s before exp", -1],
    ["at exp", 0],
    ["3 s after exp (inside the 5 s clock tolerance)", 3],
  ])("an assertion replayed %s is refused with invalid_client", async (_label, offsetSeconds) => {
    const exp = nowSeconds(now) + 60;
    const assertion = await new SignJWT({ iss: "jwt-server", sub: "jwt-server", aud: `${target.tb.url}/v1/auth/token`, iat: nowSeconds(now), exp, jti: randomUUID() })
      .setProtectedHeader({ alg: "EdDSA" })
      .sign(clientKey.privateKey);
    expect((await present(assertion)).status).toBe(200);
    now = (exp + offsetSeconds) * 1000;
    const replay = await present(assertion);
    expectOAuthError(replay, 401, "invalid_client", target.material());
    await expectDeniedAudit(target.tb, replay, target.material(), { action: "auth.token", actor: "jwt-server" });
  });
});
