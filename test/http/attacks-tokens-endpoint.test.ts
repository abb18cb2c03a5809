/**
 * The attacker's view of the token endpoint: its error contract (RFC 6749), lockout and rate limits
 * (an attacker must not be able to lock a server out), and cross-origin form posts.
 *
 * Every rejection is a 4xx (401/403/400/429, never 500), names no secret value, and leaves a
 * `denied` audit record; the broker keeps serving.
 */
import { SignJWT, type CryptoKey, type JWK } from "jose";
import { createHash, randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import { expectBrokerError, expectDeniedAudit, expectHealthy, expectOAuthError, startAttackTarget, type AttackTarget } from "../helpers/attack-kit.js";
import { tokenRequest, form, attackerKey, legacyScryptHash, CLIENT_ASSERTION_TYPE, TOKEN_TTL_SECONDS, type TokenBody } from "../helpers/token-attacks.js";

describe("POST /v1/auth/token answers errors in the RFC 6749 shape", () => {
  let target: AttackTarget;
  const wrongSecret = testSecret("wrong-client-secret");

  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const material = () => [...target.material(), wrongSecret];
  const secretA = () => target.clientSecrets["server-a"];
  const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}` });

  const cases: Array<{ name: string; body: () => TokenBody; headers?: () => Record<string, string>; status: number; error: string }> = [
    { name: "a wrong client secret (JSON)", body: () => ({ json: { grant_type: "client_credentials", client_id: "server-a", client_secret: wrongSecret } }), status: 401, error: "invalid_client" },
    { name: "a wrong client secret (form)", body: () => ({ form: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: wrongSecret }) }), status: 401, error: "invalid_client" },
    { name: "a wrong client secret (HTTP Basic)", body: () => ({ form: form({ grant_type: "client_credentials" }) }), headers: () => basic("server-a", wrongSecret), status: 401, error: "invalid_client" },
    { name: "server-b's client secret for server-a", body: () => ({ json: { grant_type: "client_credentials", client_id: "server-a", client_secret: target.clientSecrets["server-b"] } }), status: 401, error: "invalid_client" },
    // RFC 6749 section 3.2: a parameter sent without a value is treated as omitted.
    { name: "an empty client secret", body: () => ({ json: { grant_type: "client_credentials", client_id: "server-a", client_secret: "" } }), status: 400, error: "invalid_request" },
    { name: "an unknown client id (JSON)", body: () => ({ json: { grant_type: "client_credentials", client_id: "nobody", client_secret: wrongSecret } }), status: 401, error: "invalid_client" },
    { name: "an unknown client id (form)", body: () => ({ form: form({ grant_type: "client_credentials", client_id: "nobody", client_secret: wrongSecret }) }), status: 401, error: "invalid_client" },
    { name: "a client id that is not a server id (../server-a)", body: () => ({ json: { grant_type: "client_credentials", client_id: "../server-a", client_secret: secretA() } }), status: 401, error: "invalid_client" },
    { name: "a client id in another case (SERVER-A) with the right secret", body: () => ({ json: { grant_type: "client_credentials", client_id: "SERVER-A", client_secret: secretA() } }), status: 401, error: "invalid_client" },
    { name: "grant_type missing", body: () => ({ json: { client_id: "server-a", client_secret: secretA() } }), status: 400, error: "invalid_request" },
    { name: "grant_type password", body: () => ({ form: form({ grant_type: "password", client_id: "server-a", client_secret: secretA() }) }), status: 400, error: "unsupported_grant_type" },
    { name: "grant_type authorization_code", body: () => ({ json: { grant_type: "authorization_code", client_id: "server-a", client_secret: secretA() } }), status: 400, error: "unsupported_grant_type" },
    { name: "grant_type with a trailing space", body: () => ({ json: { grant_type: "client_credentials ", client_id: "server-a", client_secret: secretA() } }), status: 400, error: "unsupported_grant_type" },
    { name: "grant_type jwt-bearer (RFC 7523 section 2.1)", body: () => ({ form: form({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", client_id: "server-a", client_secret: secretA() }) }), status: 400, error: "unsupported_grant_type" },
    { name: "client_id missing", body: () => ({ json: { grant_type: "client_credentials", client_secret: secretA() } }), status: 400, error: "invalid_request" },
    { name: "neither a secret nor an assertion", body: () => ({ json: { grant_type: "client_credentials", client_id: "server-a" } }), status: 400, error: "invalid_request" },
    { name: "both a client secret and an assertion", body: () => ({ form: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: secretA(), client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: "a.b.c" }) }), status: 400, error: "invalid_request" },
    { name: "a client secret both in HTTP Basic and in the body", body: () => ({ form: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: secretA() }) }), headers: () => basic("server-a", secretA()), status: 400, error: "invalid_request" },
    { name: "HTTP Basic credentials without a colon", body: () => ({ form: form({ grant_type: "client_credentials" }) }), headers: () => ({ authorization: `Basic ${Buffer.from("server-a").toString("base64")}` }), status: 400, error: "invalid_request" },
    { name: "HTTP Basic credentials with malformed percent-encoding", body: () => ({ form: form({ grant_type: "client_credentials" }) }), headers: () => ({ authorization: `Basic ${Buffer.from("server-a:%E0%A4%A").toString("base64")}` }), status: 400, error: "invalid_request" },
    { name: "a repeated form parameter (client_id twice)", body: () => ({ form: `grant_type=client_credentials&client_id=server-b&client_id=server-a&client_secret=${encodeURIComponent(secretA())}` }), status: 400, error: "invalid_request" },
    { name: "a repeated form parameter (client_secret twice)", body: () => ({ form: `grant_type=client_credentials&client_id=server-a&client_secret=x&client_secret=${encodeURIComponent(secretA())}` }), status: 400, error: "invalid_request" },
    { name: "a repeated form parameter (grant_type twice)", body: () => ({ form: `grant_type=password&grant_type=client_credentials&client_id=server-a&client_secret=${encodeURIComponent(secretA())}` }), status: 400, error: "invalid_request" },
    { name: "a client secret that is a number", body: () => ({ json: { grant_type: "client_credentials", client_id: "server-a", client_secret: 12345 } }), status: 400, error: "invalid_request" },
    { name: "a client id that is an array", body: () => ({ json: { grant_type: "client_credentials", client_id: ["server-a"], client_secret: secretA() } }), status: 400, error: "invalid_request" },
    { name: "malformed JSON", body: () => ({ raw: '{"grant_type": "client_credentials",', contentType: "application/json" }), status: 400, error: "invalid_request" },
    { name: "a JSON array body", body: () => ({ raw: "[]", contentType: "application/json" }), status: 400, error: "invalid_request" },
    { name: "text/plain", body: () => ({ raw: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: secretA() }), contentType: "text/plain" }), status: 400, error: "invalid_request" },
    { name: "no Content-Type", body: () => ({ raw: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: secretA() }) }), status: 400, error: "invalid_request" },
    { name: "a wrong client_assertion_type", body: () => ({ form: form({ grant_type: "client_credentials", client_id: "server-a", client_assertion_type: "urn:example:saml", client_assertion: "a.b.c" }) }), status: 400, error: "invalid_request" },
  ];

  describe.each(cases)("with $name", ({ body, headers, status, error }) => {
    it(`answers ${status} ${error} (RFC 6749 shape), issues no token, and keeps serving`, async () => {
      const response = await tokenRequest(target, body(), headers?.() ?? {});
      const answer = expectOAuthError(response, status, error, material());
      expect(response.body).not.toHaveProperty("access_token");
      expect(answer.error_description.length).toBeGreaterThan(0);
      if (status === 401) expect(response.headers["www-authenticate"]).toMatch(/^Basic/);
      await expectHealthy(target.tb);
    });

    it("records a denied auth.token audit event", async () => {
      const response = await tokenRequest(target, body(), headers?.() ?? {});
      expect(response.status).toBe(status);
      await expectDeniedAudit(target.tb, response, material(), { action: "auth.token" });
    });
  });

  it("ignores unknown parameters, as RFC 6749 section 3.2 requires (clients send scope, resource...)", async () => {
    const response = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: secretA(), scope: "x", admin: true } });
    expect(response.status, response.text).toBe(200);
  });

  it("gives a wrong secret and an unknown client id the same answer (no client enumeration)", async () => {
    const wrong = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: wrongSecret } });
    const unknown = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "nobody", client_secret: wrongSecret } });
    expect(unknown.status).toBe(wrong.status);
    expect((unknown.body as { error_description: string }).error_description).toBe((wrong.body as { error_description: string }).error_description);
  });

  it.each(["Basic", "basic", "BASIC"])("takes HTTP Basic credentials whatever the scheme's case (%s, RFC 7235)", async (scheme) => {
    const credentials = Buffer.from(`server-a:${secretA()}`).toString("base64");
    const response = await tokenRequest(target, { form: form({ grant_type: "client_credentials" }) }, { authorization: `${scheme} ${credentials}` });
    expect(response.status, response.text).toBe(200);
  });

  it("the right secret still gets a token after all of the above (no lockout at the default limits)", async () => {
    const response = await tokenRequest(target, { form: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: secretA() }) });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ token_type: "Bearer", expires_in: TOKEN_TTL_SECONDS, access_token: expect.any(String) });
    expect(response.headers["cache-control"]).toBe("no-store");
  });
});

// =============================================================================================

describe("repeated failures lock out one client id from one source address (max_failures 3 within 5m → 15m lockout)", () => {
  let target: AttackTarget;
  let now: number;
  let serverKey: { privateKey: CryptoKey; publicJwk: JWK };
  const wrongSecret = testSecret("guess");
  const ATTACKER = "203.0.113.66";
  const SERVER = "198.51.100.10";

  beforeEach(async () => {
    now = Date.parse("2030-03-01T08:00:00Z");
    // Behind a trusted proxy, so each request can come from the address the test names.
    target = await startAttackTarget({ clock: () => now, config: { trust_proxy: true, rate_limit: { per_second: 1000, burst: 1000, max_failures: 3, failure_window: "5m", lockout: "15m" } } });
    serverKey = await attackerKey();
    await target.tb.registerServer("key-server", { public_jwk: serverKey.publicJwk, no_secret: true });
    expect((await target.tb.admin("POST", "/v1/admin/servers/server-a/rotate-credentials", { public_jwk: serverKey.publicJwk, mode: "add" })).status, "server-a gets a key beside its secret").toBe(200);
  });
  afterEach(async () => {
    await target?.tb.close();
  });

  const from = (address: string) => ({ "x-forwarded-for": address });
  const attempt = (secret: string, clientId = "server-a", address = ATTACKER) =>
    tokenRequest(target, { json: { grant_type: "client_credentials", client_id: clientId, client_secret: secret } }, from(address));
  const assertion = (clientId: string) => {
    const issuedAt = Math.floor(now / 1000);
    return new SignJWT({ iss: clientId, sub: clientId, aud: `${target.tb.url}/v1/auth/token`, iat: issuedAt, exp: issuedAt + 120, jti: randomUUID() })
      .setProtectedHeader({ alg: "EdDSA" })
      .sign(serverKey.privateKey);
  };
  const present = async (clientId: string, address: string) =>
    tokenRequest(target, { form: form({ grant_type: "client_credentials", client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await assertion(clientId) }) }, from(address));
  const material = () => [...target.material(), wrongSecret];

  it("after three wrong secrets from one address, that address gets 429 with Retry-After even with the right secret, audited as denied", async () => {
    for (let i = 0; i < 3; i++) expectOAuthError(await attempt(wrongSecret), 401, "invalid_client", material());
    const response = await attempt(target.clientSecrets["server-a"]);
    expectOAuthError(response, 429, "rate_limited", material());
    const retryAfter = Number(response.headers["retry-after"]);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(response.body).not.toHaveProperty("access_token");
    await expectDeniedAudit(target.tb, response, material(), { action: "auth.token", actor: "server-a", reason: /locked_out/ });
  });

  it("the attacker cannot lock the server out: ten wrong secrets from other addresses leave the right secret working from the server's address", async () => {
    for (let i = 0; i < 10; i++) {
      // Two attacker addresses, five guesses each: each is locked out after its third.
      const lockedOut = i >= 6;
      expectOAuthError(await attempt(wrongSecret, "server-a", `203.0.113.${10 + (i % 2)}`), lockedOut ? 429 : 401, lockedOut ? "rate_limited" : "invalid_client", material());
    }
    const response = await attempt(target.clientSecrets["server-a"], "server-a", SERVER);
    expect(response.status, response.text).toBe(200);
  });

  it("a valid private_key_jwt assertion keeps working after ten wrong secrets, even from the attacker's own address", async () => {
    for (let i = 0; i < 10; i++) await attempt(wrongSecret);
    expect((await attempt(target.clientSecrets["server-a"])).status, "the secret path from that address is locked").toBe(429);
    const fromAttacker = await present("server-a", ATTACKER);
    expect(fromAttacker.status, fromAttacker.text).toBe(200);
    const fromServer = await present("server-a", SERVER);
    expect(fromServer.status, fromServer.text).toBe(200);
  });

  it("a key-only server has no secret to guess: secret guesses from any address never lock its key", async () => {
    for (const address of [ATTACKER, SERVER]) {
      for (let i = 0; i < 10; i++) await attempt(wrongSecret, "key-server", address);
      const response = await present("key-server", address);
      expect(response.status, response.text).toBe(200);
    }
  });

  it("bad assertions lock out the key path from that address only", async () => {
    const forged = (await attackerKey()).privateKey;
    for (let i = 0; i < 3; i++) {
      const issuedAt = Math.floor(now / 1000);
      const bad = await new SignJWT({ iss: "key-server", sub: "key-server", aud: `${target.tb.url}/v1/auth/token`, iat: issuedAt, exp: issuedAt + 120, jti: randomUUID() }).setProtectedHeader({ alg: "EdDSA" }).sign(forged);
      const response = await tokenRequest(target, { form: form({ grant_type: "client_credentials", client_id: "key-server", client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: bad }) }, from(ATTACKER));
      expectOAuthError(response, 401, "invalid_client", material());
    }
    expectOAuthError(await present("key-server", ATTACKER), 429, "rate_limited", material());
    expect((await present("key-server", SERVER)).status).toBe(200);
  });

  it("the lockout holds for its whole duration and is for that client id only", async () => {
    for (let i = 0; i < 3; i++) await attempt(wrongSecret);
    now += 14 * 60 * 1000;
    expectOAuthError(await attempt(target.clientSecrets["server-a"]), 429, "rate_limited", material());
    expect((await attempt(target.clientSecrets["server-b"], "server-b")).status, "server-b is not locked out").toBe(200);
  });

  it("after the lockout period the right secret works again", async () => {
    for (let i = 0; i < 3; i++) await attempt(wrongSecret);
    now += 15 * 60 * 1000 + 1000;
    expect((await attempt(target.clientSecrets["server-a"])).status).toBe(200);
  });

  it("failures further apart than the failure window do not lock out", async () => {
    await attempt(wrongSecret);
    await attempt(wrongSecret);
    now += 5 * 60 * 1000 + 1000;
    await attempt(wrongSecret);
    expect((await attempt(target.clientSecrets["server-a"])).status).toBe(200);
  });
});

// =============================================================================================

describe("a browser on another site cannot post to the token endpoint", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const post = (headers: Record<string, string>) =>
    tokenRequest(target, { form: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: target.clientSecrets["server-a"] }) }, headers);

  it.each(["https://evil.example", "null", `http://127.0.0.1:1`, "http://localhost.evil.example"])("a form POST with Origin %s is 403 forbidden, issues no token, audited", async (origin) => {
    const response = await post({ origin });
    const { error } = expectBrokerError(response, 403, "forbidden", target.material());
    expect(error.message).toMatch(/Origin/);
    expect(response.text).not.toContain("access_token");
    await expectDeniedAudit(target.tb, response, target.material());
  });

  it("a request without Origin (a server, curl) or with the broker's own origin gets a token", async () => {
    expect((await post({})).status).toBe(200);
    const own = await post({ origin: new URL(target.tb.url).origin });
    expect(own.status, own.text).toBe(200);
  });
});

// =============================================================================================

describe("the token endpoint is rate-limited per source address", () => {
  describe("per source address (burst 3, then 1 per 1000 s)", () => {
    let target: AttackTarget;
    beforeAll(async () => {
      target = await startAttackTarget({ config: { rate_limit: { per_second: 0.001, burst: 3, max_failures: 1000 } } });
    });
    afterAll(async () => {
      await target?.tb.close();
    });

    it("the fourth request from one address gets 429 with Retry-After, even for another client with the right secret", async () => {
      for (const clientId of ["nobody-1", "nobody-2", "nobody-3"]) {
        expectOAuthError(await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: clientId, client_secret: "x" } }), 401, "invalid_client", target.material());
      }
      const response = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: target.clientSecrets["server-a"] } });
      expectOAuthError(response, 429, "rate_limited", target.material());
      expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
      await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.token", reason: /rate_limited/ });
    });

    it("a spoofed X-Forwarded-For does not get around it (trust_proxy is off by default)", async () => {
      const response = await tokenRequest(
        target,
        { json: { grant_type: "client_credentials", client_id: "server-b", client_secret: target.clientSecrets["server-b"] } },
        { "x-forwarded-for": "203.0.113.77" },
      );
      expectOAuthError(response, 429, "rate_limited", target.material());
    });
  });

  describe("a flood at one client id from other addresses (burst 2), behind a trusted proxy", () => {
    let target: AttackTarget;
    beforeAll(async () => {
      target = await startAttackTarget({ config: { trust_proxy: true, rate_limit: { per_second: 0.001, burst: 2, max_failures: 1000 } } });
    });
    afterAll(async () => {
      await target?.tb.close();
    });

    const request = (clientId: "server-a" | "server-b", address: string, secret = target.clientSecrets[clientId]) =>
      tokenRequest(target, { json: { grant_type: "client_credentials", client_id: clientId, client_secret: secret } }, { "x-forwarded-for": address });

    it("throttles each flooding address, and does not throttle server-a at its own address", async () => {
      for (const address of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) {
        for (let i = 0; i < 2; i++) expect((await request("server-a", address, "guess")).status).toBe(401);
        const response = await request("server-a", address, "guess");
        expectOAuthError(response, 429, "rate_limited", target.material());
        expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
        await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.token", actor: "server-a", reason: /rate_limited/ });
      }
      expect((await request("server-a", "10.0.0.9")).status).toBe(200);
      expect((await request("server-b", "10.0.0.4")).status).toBe(200);
    });
  });
});

// =============================================================================================

describe("client secrets at rest: HMAC-SHA-256 under a broker key; legacy scrypt entries migrate on use", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const store = () => target.tb.broker.store;
  const secretHashOf = async (serverId: string) => {
    const [credential] = (await store().activeCredentials(serverId)).filter((c) => c.kind === "client_secret");
    return credential!;
  };
  const issue = (clientId: string, secret: string) => tokenRequest(target, { json: { grant_type: "client_credentials", client_id: clientId, client_secret: secret } });

  it("a registered server's secret is stored as hmac-sha256$<32 bytes>, not the secret and not a bare SHA-256 of it", async () => {
    const { secretHash } = await secretHashOf("server-a");
    const secret = target.clientSecrets["server-a"];
    expect(secretHash).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{43}$/);
    expect(secretHash).not.toContain(secret);
    expect(secretHash).not.toContain(createHash("sha256").update(secret).digest("base64url"));
  });

  it("a legacy scrypt entry still authenticates, is re-hashed as HMAC on that use, and keeps working; a wrong secret does not touch it", async () => {
    const secret = target.clientSecrets["server-b"];
    const credential = await secretHashOf("server-b");
    const legacy = legacyScryptHash(secret);
    expect(await store().replaceCredentialSecretHash(credential.id, credential.secretHash!, legacy)).toBe(true);
    expect((await issue("server-b", testSecret("wrong"))).status).toBe(401);
    expect((await secretHashOf("server-b")).secretHash, "a failure re-hashes nothing").toBe(legacy);
    const first = await issue("server-b", secret);
    expect(first.status, first.text).toBe(200);
    const migrated = (await secretHashOf("server-b")).secretHash;
    expect(migrated).toBe(credential.secretHash);
    expect((await issue("server-b", secret)).status).toBe(200);
  });
});
