/**
 * The attacker's view of authentication and authorisation: forged, tampered, foreign, expired
 * and not-yet-valid broker tokens; tokens of disabled servers; one server reaching for another's
 * secret; operator and server tokens on each other's routes; garbage Authorization headers; the
 * token endpoint's error contract (RFC 6749), lockout and rate limits; and RFC 7523
 * `private_key_jwt` client assertions.
 *
 * Every rejection is a 4xx (401/403/400/429, never 500), names no secret value, and leaves a
 * `denied` audit record; the broker keeps serving.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { createPublicKey, randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import {
  b64url,
  deniedEventsViaApi,
  expectBrokerError,
  expectDeniedAudit,
  expectHealthy,
  expectNoSecretMaterial,
  expectOAuthError,
  hs256Jwt,
  nowSeconds,
  rawRequest,
  splitJwt,
  startAttackTarget,
  unsecuredJwt,
  type AttackResponse,
  type AttackTarget,
} from "../helpers/attack-kit.js";

const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_TTL_SECONDS = 15 * 60;

function readAs(target: AttackTarget, token: string | undefined, names: string[] = ["a/token"], headers: Record<string, string> = {}): Promise<AttackResponse> {
  return rawRequest(target.tb.url, {
    method: "POST",
    target: "/v1/secrets/read",
    headers: { "content-type": "application/json", ...(token !== undefined && { authorization: `Bearer ${token}` }), ...headers },
    body: JSON.stringify({ names }),
  });
}

function withAuthorization(target: AttackTarget, method: string, path: string, authorization: string | undefined, body?: unknown): Promise<AttackResponse> {
  return rawRequest(target.tb.url, {
    method,
    target: path,
    headers: { ...(authorization !== undefined && { authorization }), ...(body !== undefined && { "content-type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

type TokenBody = { form: string } | { json: unknown } | { raw: string; contentType?: string };

function tokenRequest(target: AttackTarget, body: TokenBody, headers: Record<string, string> = {}): Promise<AttackResponse> {
  const [contentType, text] =
    "form" in body ? ["application/x-www-form-urlencoded", body.form] : "json" in body ? ["application/json", JSON.stringify(body.json)] : [body.contentType, body.raw];
  return rawRequest(target.tb.url, {
    method: "POST",
    target: "/v1/auth/token",
    headers: { ...(contentType !== undefined && { "content-type": contentType }), ...headers },
    body: text,
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** The broker's published signing key (the first JWK of /.well-known/jwks.json). */
async function publishedKey(target: AttackTarget): Promise<JWK & { kid: string; x: string }> {
  const { status, body } = await target.tb.call<{ keys: Array<JWK & { kid: string; x: string }> }>("GET", "/.well-known/jwks.json");
  expect(status).toBe(200);
  expect(body.keys.length).toBeGreaterThan(0);
  for (const key of body.keys) for (const member of ["d", "p", "q", "k"]) expect(key, "the JWKS publishes public keys only").not.toHaveProperty(member);
  return body.keys[0]!;
}

async function attackerKey(): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

// =============================================================================================

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

// =============================================================================================

describe("disabling a server revokes its access at once", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  it("its unexpired token is refused on the next request (401 invalid_token), and so is a new token request", async () => {
    const token = await target.token("server-a");
    expect((await readAs(target, token)).status).toBe(200);

    const disabled = await target.tb.admin("POST", "/v1/admin/servers/server-a/disable");
    expect(disabled.status).toBe(200);

    const response = await readAs(target, token);
    const { error } = expectBrokerError(response, 401, "invalid_token", target.material());
    expect(error.message).toMatch(/disabled/);
    await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", actor: "server-a", reason: /server_disabled/ });

    const single = await rawRequest(target.tb.url, { method: "GET", target: "/v1/secrets/a/token", headers: { authorization: `Bearer ${token}` } });
    expectBrokerError(single, 401, "invalid_token", target.material());

    const again = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: target.clientSecrets["server-a"] } });
    expectOAuthError(again, 401, "invalid_client", target.material());
    await expectDeniedAudit(target.tb, again, target.material(), { action: "auth.token", actor: "server-a", reason: /server_disabled/ });
  });

  it("other servers are not affected", async () => {
    const response = await readAs(target, await target.token("server-b"), ["b/token"]);
    expect(response.status, response.text).toBe(200);
  });

  it("a token issued before the server was disabled stays dead after it is enabled again (it may be the leaked one)", async () => {
    const leaked = await target.token("server-b");
    expect((await readAs(target, leaked, ["b/token"])).status).toBe(200);
    expect((await target.tb.admin("POST", "/v1/admin/servers/server-b/disable")).status).toBe(200);
    expect((await target.tb.admin("POST", "/v1/admin/servers/server-b/enable")).status).toBe(200);
    const response = await readAs(target, leaked, ["b/token"]);
    expectBrokerError(response, 401, "invalid_token", target.material());
    await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify", actor: "server-b" });
  });

  it("after rotate-credentials the old client secret is refused with invalid_client", async () => {
    const rotated = await target.tb.admin<{ client_secret: string }>("POST", "/v1/admin/servers/server-b/rotate-credentials");
    expect(rotated.status).toBe(200);
    const material = [...target.material(), rotated.body.client_secret];
    const old = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-b", client_secret: target.clientSecrets["server-b"] } });
    expectOAuthError(old, 401, "invalid_client", material);
    await expectDeniedAudit(target.tb, old, material, { action: "auth.token", actor: "server-b" });
    const fresh = await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-b", client_secret: rotated.body.client_secret } });
    expect(fresh.status, fresh.text).toBe(200);
  });
});

// =============================================================================================

describe("authorisation: each principal stays inside its boundary", () => {
  let target: AttackTarget;
  let tokenA: string;
  let auditorToken: string;

  beforeAll(async () => {
    target = await startAttackTarget();
    tokenA = await target.token("server-a");
    const created = await target.tb.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "alice-auditor", role: "auditor" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    auditorToken = created.body.token;
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const material = () => [...target.material(), auditorToken];

  it("server-a reading server-b's secret gets 403 denied naming the secret and the reason", async () => {
    const response = await readAs(target, tokenA, ["b/token"]);
    const { error } = expectBrokerError(response, 403, "denied", material());
    expect(error.message).toContain("b/token");
    expect(error.denied).toEqual([{ secret: "b/token", reason: "no_matching_rule", message: expect.stringContaining("server-a") }]);
    await expectDeniedAudit(target.tb, response, material(), { action: "secret.read", actor: "server-a", resource: "b/token", reason: /no_matching_rule/ });
  });

  it("an explicit deny wins over server-a's own allow (a/admin/key under a/**)", async () => {
    const response = await readAs(target, tokenA, ["a/admin/key"]);
    const { error } = expectBrokerError(response, 403, "denied", material());
    expect(error.denied).toEqual([expect.objectContaining({ secret: "a/admin/key", reason: "explicit_deny" })]);
    await expectDeniedAudit(target.tb, response, material(), { action: "secret.read", resource: "a/admin/key", reason: /explicit_deny/ });
  });

  it("a batch with one foreign secret is all-or-nothing: 403 names only b/token, a/token's value is not sent, no lease is made", async () => {
    const leases = async () => (await target.tb.call<{ leases: unknown[] }>("GET", "/v1/leases", { token: tokenA })).body.leases.length;
    const before = await leases();
    const response = await readAs(target, tokenA, ["a/token", "b/token"]);
    const { error } = expectBrokerError(response, 403, "denied", material());
    expect(error.denied).toEqual([expect.objectContaining({ secret: "b/token" })]);
    expect(await leases()).toBe(before);
    await expectDeniedAudit(target.tb, response, material(), { resource: "b/token" });
  });

  describe("another server's lease", () => {
    let leaseOfB: string;
    let tokenB: string;
    beforeAll(async () => {
      tokenB = await target.token("server-b");
      const read = await readAs(target, tokenB, ["b/token"]);
      expect(read.status).toBe(200);
      leaseOfB = (read.body as { secrets: Record<string, { lease_id: string }> }).secrets["b/token"]!.lease_id;
    });
    const leasesOfB = async () => (await target.tb.call<{ leases: Array<{ lease_id: string; state: string }> }>("GET", "/v1/leases", { token: tokenB })).body.leases;

    it("cannot be renewed by server-a: 404 not_found (ids cannot be probed), audited as denied", async () => {
      const response = await rawRequest(target.tb.url, { method: "POST", target: `/v1/leases/${leaseOfB}/renew`, headers: { authorization: `Bearer ${tokenA}` } });
      expectBrokerError(response, 404, "not_found", material());
      await expectDeniedAudit(target.tb, response, material(), { action: "lease.renew", actor: "server-a" });
    });

    it("cannot be revoked by server-a: 404 not_found, the lease stays active, audited as denied", async () => {
      const response = await rawRequest(target.tb.url, { method: "DELETE", target: `/v1/leases/${leaseOfB}`, headers: { authorization: `Bearer ${tokenA}` } });
      expectBrokerError(response, 404, "not_found", material());
      expect(await leasesOfB()).toContainEqual(expect.objectContaining({ lease_id: leaseOfB, state: "active" }));
      await expectDeniedAudit(target.tb, response, material(), { actor: "server-a" });
    });

    it("is not listed to server-a, whatever the query says", async () => {
      const listed = await target.tb.call<{ leases: Array<{ lease_id: string; server: string }> }>("GET", "/v1/leases?server=server-b&all=true", { token: tokenA });
      expect(listed.status).toBe(200);
      expect(listed.body.leases.map((lease) => lease.server).filter((server) => server !== "server-a")).toEqual([]);
    });
  });

  it.each([
    ["GET /v1/secrets/b/token", "/v1/secrets/b/token"],
    ["GET /v1/secrets/b/token%23key (one key of it)", "/v1/secrets/b/token%23key"],
    ["GET /v1/secrets/B/token (another case)", "/v1/secrets/B/token"],
  ])("%s with server-a's token is 403 denied and audited", async (_label, path) => {
    const response = await rawRequest(target.tb.url, { method: "GET", target: path, headers: { authorization: `Bearer ${tokenA}` } });
    expectBrokerError(response, 403, "denied", material());
    await expectDeniedAudit(target.tb, response, material(), { action: "secret.read", actor: "server-a" });
  });

  describe.each([
    ["POST /v1/secrets/read", "POST", "/v1/secrets/read", { names: ["a/token"] }],
    ["GET /v1/secrets/a/token", "GET", "/v1/secrets/a/token", undefined],
    ["GET /v1/leases", "GET", "/v1/leases", undefined],
  ])("an operator token on %s", (_label, method, path, body) => {
    it("is 403 forbidden for the admin operator, audited as denied", async () => {
      const response = await withAuthorization(target, method, path, `Bearer ${target.tb.adminToken}`, body);
      expectBrokerError(response, 403, "forbidden", material());
      await expectDeniedAudit(target.tb, response, material(), { action: "auth.verify", reason: /operator_token/ });
    });

    it("is 403 forbidden for an auditor operator too", async () => {
      const response = await withAuthorization(target, method, path, `Bearer ${auditorToken}`, body);
      expectBrokerError(response, 403, "forbidden", material());
    });
  });

  describe.each([
    ["GET /v1/admin/servers", "GET", "/v1/admin/servers", undefined],
    ["POST /v1/admin/servers (register)", "POST", "/v1/admin/servers", { id: "evil-server" }],
    ["POST /v1/admin/secrets (write)", "POST", "/v1/admin/secrets", { path: "b/token", value: "overwritten" }],
    ["POST /v1/admin/secrets/read", "POST", "/v1/admin/secrets/read", { path: "b/token" }],
    ["POST /v1/admin/servers/server-b/disable", "POST", "/v1/admin/servers/server-b/disable", undefined],
    ["POST /v1/admin/operators", "POST", "/v1/admin/operators", { name: "mallory", role: "admin" }],
    ["GET /v1/audit/events", "GET", "/v1/audit/events", undefined],
  ])("a server token on %s", (_label, method, path, body) => {
    it("is 401 unauthorized, changes nothing, and is audited as denied", async () => {
      const response = await withAuthorization(target, method, path, `Bearer ${tokenA}`, body);
      expectBrokerError(response, 401, "unauthorized", material());
      await expectDeniedAudit(target.tb, response, material(), { action: "auth.verify", reason: /invalid_operator_token/ });
    });
  });

  it("the server token above changed nothing: no evil-server, server-b enabled, b/token unchanged", async () => {
    const servers = await target.tb.admin<{ servers: Array<{ id: string; disabled_at?: unknown }> }>("GET", "/v1/admin/servers");
    expect(servers.body.servers.map((s) => s.id).sort()).toEqual(["server-a", "server-b"]);
    const read = await readAs(target, await target.token("server-b"), ["b/token"]);
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ secrets: { "b/token": { value: target.values.b, version: 1 } } });
  });

  it("an auditor operator on an admin route it lacks is 403 forbidden, audited as denied", async () => {
    const response = await withAuthorization(target, "POST", "/v1/admin/secrets/read", `Bearer ${auditorToken}`, { path: "b/token" });
    expectBrokerError(response, 403, "forbidden", material());
    await expectDeniedAudit(target.tb, response, material(), { action: "auth.verify", actor: "alice-auditor" });
  });

  it("a revoked operator token is 401 unauthorized", async () => {
    const created = await target.tb.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "bob-temp", role: "auditor" });
    expect(created.status).toBe(201);
    expect((await target.tb.admin("DELETE", "/v1/admin/operators/bob-temp")).status).toBe(204);
    const response = await withAuthorization(target, "GET", "/v1/audit/events", `Bearer ${created.body.token}`);
    expectBrokerError(response, 401, "unauthorized", [...material(), created.body.token]);
    await expectDeniedAudit(target.tb, response, [...material(), created.body.token], { action: "auth.verify" });
  });
});

// =============================================================================================

/**
 * With `trust_proxy: true` the broker sits behind a reverse proxy that appends the address it
 * saw to X-Forwarded-For (nginx `$proxy_add_x_forwarded_for`, AWS ALB, ...). Whatever the client
 * itself put in the header comes first; only the last entry was written by the trusted proxy.
 */
describe("behind a trusted proxy, a client cannot choose its own source address", () => {
  let target: AttackTarget;
  let officeToken: string;
  const officeValue = testSecret("office");

  beforeAll(async () => {
    target = await startAttackTarget({ config: { trust_proxy: true } });
    const secret = await target.tb.registerServer("office-server");
    await target.tb.putSecret("office/printer", officeValue);
    officeToken = await target.tb.serverToken("office-server", secret);
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  it("a request the proxy saw from 10.1.2.3 reads the office secret (the condition is met)", async () => {
    const response = await readAs(target, officeToken, ["office/printer"], { "x-forwarded-for": "10.1.2.3" });
    expect(response.status, response.text).toBe(200);
  });

  it("a client outside 10.0.0.0/8 that sends X-Forwarded-For: 10.1.2.3 itself is 403 denied (condition_failed), audited with its real address", async () => {
    // What the broker receives after the proxy appended the address it actually saw.
    const response = await readAs(target, officeToken, ["office/printer"], { "x-forwarded-for": "10.1.2.3, 198.51.100.7" });
    const { error } = expectBrokerError(response, 403, "denied", [...target.material(), officeValue]);
    expect(error.denied).toEqual([expect.objectContaining({ secret: "office/printer", reason: "condition_failed" })]);
    const records = await expectDeniedAudit(target.tb, response, [...target.material(), officeValue], { action: "secret.read", actor: "office-server" });
    expect(records.map((record) => record.sourceIp)).toContain("198.51.100.7");
  });
});

// =============================================================================================

describe("missing or garbage Authorization headers are 401", () => {
  let target: AttackTarget;
  let tokenA: string;
  beforeAll(async () => {
    target = await startAttackTarget();
    tokenA = await target.token("server-a");
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  const junk = (bytes: number) => "A".repeat(bytes);
  const cases: Array<{ name: string; header: () => string | undefined; code: "unauthorized" | "invalid_token" }> = [
    { name: "no Authorization header", header: () => undefined, code: "unauthorized" },
    { name: "an empty Authorization header", header: () => "", code: "unauthorized" },
    { name: "the scheme alone (Bearer)", header: () => "Bearer", code: "unauthorized" },
    { name: "the scheme and a space (Bearer )", header: () => "Bearer ", code: "unauthorized" },
    { name: "two spaces before the token", header: () => `Bearer  ${tokenA}`, code: "unauthorized" },
    { name: "the token without a scheme", header: () => tokenA, code: "unauthorized" },
    { name: "a Basic header with server-a's client secret", header: () => `Basic ${Buffer.from(`server-a:${target.clientSecrets["server-a"]}`).toString("base64")}`, code: "unauthorized" },
    { name: "a Digest header", header: () => 'Digest username="server-a", response="x"', code: "unauthorized" },
    { name: "two bearer tokens", header: () => `Bearer ${tokenA}, Bearer ${tokenA}`, code: "unauthorized" },
    { name: "a token followed by junk", header: () => `Bearer ${tokenA} junk`, code: "unauthorized" },
    { name: "a bearer token with quotes", header: () => `Bearer "${tokenA}"`, code: "unauthorized" },
    { name: "Bearer with 10 KB of junk", header: () => `Bearer ${junk(10 * 1024)}`, code: "unauthorized" },
    { name: "Bearer with 10 KB of JWT-shaped junk", header: () => `Bearer eyJ${junk(5 * 1024)}.eyJ${junk(5 * 1024)}.${junk(100)}`, code: "unauthorized" },
    { name: "Bearer with 4 KB of JWT-shaped junk (inside the length limit)", header: () => `Bearer eyJ${junk(2000)}.eyJ${junk(2000)}.${junk(50)}`, code: "invalid_token" },
    { name: "Bearer not-a-jwt", header: () => "Bearer not-a-jwt", code: "invalid_token" },
    { name: "Bearer a.b.c", header: () => "Bearer a.b.c", code: "invalid_token" },
    { name: "Bearer with five JWE-like segments", header: () => "Bearer a.b.c.d.e", code: "invalid_token" },
    { name: "Bearer with a JSON header that is not an object", header: () => `Bearer ${b64url("[]")}.${b64url("{}")}.sig`, code: "invalid_token" },
    { name: "Bearer with a huge JSON header inside the limit", header: () => `Bearer ${b64url({ alg: "EdDSA", kid: "k".repeat(2500) })}.${b64url("{}")}.sig`, code: "invalid_token" },
    { name: "Bearer with a client secret instead of a token", header: () => `Bearer ${target.clientSecrets["server-a"]}`, code: "invalid_token" },
  ];

  describe.each(cases)("with $name", ({ header, code }) => {
    it(`answers 401 ${code} on POST /v1/secrets/read, releasing nothing`, async () => {
      const response = await readAs(target, undefined, ["a/token"], header() === undefined ? {} : { authorization: header()! });
      expectBrokerError(response, 401, code, target.material());
      await expectHealthy(target.tb);
    });

    it("answers 401 on GET /v1/admin/servers as well", async () => {
      const response = await withAuthorization(target, "GET", "/v1/admin/servers", header());
      expect([401, 403]).toContain(response.status);
      expectBrokerError(response, response.status, response.status === 401 ? "unauthorized" : "forbidden", target.material());
    });

    it("records a denied auth.verify audit event", async () => {
      const response = await readAs(target, undefined, ["a/token"], header() === undefined ? {} : { authorization: header()! });
      await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.verify" });
    });
  });

  it("a valid token in the query string (?access_token=) is not accepted", async () => {
    const response = await rawRequest(target.tb.url, { method: "GET", target: `/v1/secrets/a/token?access_token=${tokenA}` });
    expectBrokerError(response, 401, "unauthorized", target.material());
  });
});

// =============================================================================================

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

  it("the right secret still gets a token after all of the above (no lockout at the default limits)", async () => {
    const response = await tokenRequest(target, { form: form({ grant_type: "client_credentials", client_id: "server-a", client_secret: secretA() }) });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ token_type: "Bearer", expires_in: TOKEN_TTL_SECONDS, access_token: expect.any(String) });
    expect(response.headers["cache-control"]).toBe("no-store");
  });
});

// =============================================================================================

describe("repeated failures lock a client id out (max_failures 3 within 5m → 15m lockout)", () => {
  let target: AttackTarget;
  let now: number;
  const wrongSecret = testSecret("guess");

  beforeEach(async () => {
    now = Date.parse("2030-03-01T08:00:00Z");
    target = await startAttackTarget({ clock: () => now, config: { rate_limit: { per_second: 1000, burst: 1000, max_failures: 3, failure_window: "5m", lockout: "15m" } } });
  });
  afterEach(async () => {
    await target?.tb.close();
  });

  const attempt = (secret: string, clientId = "server-a") => tokenRequest(target, { json: { grant_type: "client_credentials", client_id: clientId, client_secret: secret } });
  const material = () => [...target.material(), wrongSecret];

  it("after three wrong secrets, even the right secret gets 429 with Retry-After, audited as denied", async () => {
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

describe("the token endpoint is rate-limited per source address and per client id", () => {
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

  describe("per client id (burst 2), behind a trusted proxy with a new address each time", () => {
    let target: AttackTarget;
    beforeAll(async () => {
      target = await startAttackTarget({ config: { trust_proxy: true, rate_limit: { per_second: 0.001, burst: 2, max_failures: 1000 } } });
    });
    afterAll(async () => {
      await target?.tb.close();
    });

    const request = (clientId: "server-a" | "server-b", address: string) =>
      tokenRequest(target, { json: { grant_type: "client_credentials", client_id: clientId, client_secret: target.clientSecrets[clientId] } }, { "x-forwarded-for": address });

    it("the third request for server-a gets 429 although each came from another address; server-b is unaffected", async () => {
      expect((await request("server-a", "10.0.0.1")).status).toBe(200);
      expect((await request("server-a", "10.0.0.2")).status).toBe(200);
      const response = await request("server-a", "10.0.0.3");
      expectOAuthError(response, 429, "rate_limited", target.material());
      expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
      await expectDeniedAudit(target.tb, response, target.material(), { action: "auth.token", actor: "server-a", reason: /rate_limited/ });
      expect((await request("server-b", "10.0.0.4")).status).toBe(200);
    });
  });
});

// =============================================================================================

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

// =============================================================================================

describe("after every authentication attack", () => {
  let target: AttackTarget;
  beforeAll(async () => {
    target = await startAttackTarget();
  });
  afterAll(async () => {
    await target?.tb.close();
  });

  it("denied events are visible to auditors and hold no secret value, client secret or token", async () => {
    const wrong = testSecret("last-guess");
    await tokenRequest(target, { json: { grant_type: "client_credentials", client_id: "server-a", client_secret: wrong } });
    await readAs(target, unsecuredJwt({ typ: "at+jwt" }, { sub: "server-a" }));
    await readAs(target, await target.token("server-a"), ["b/token"]);
    const events = await deniedEventsViaApi(target.tb);
    expect(events.map((event) => (event as { action: string }).action)).toEqual(expect.arrayContaining(["auth.token", "auth.verify", "secret.read"]));
    expectNoSecretMaterial(JSON.stringify(events), [...target.material(), wrong], "the denied audit events");
  });

  it("the audit chain verifies", async () => {
    const { status, body } = await target.tb.admin<{ ok: boolean }>("GET", "/v1/audit/verify");
    expect(status).toBe(200);
    expect(body, JSON.stringify(body)).toMatchObject({ ok: true });
  });
});
