/**
 * The client authentication methods of the token endpoint: which fields select which method, and
 * what each answers for a client with no matching credential. The HTTP behaviour is pinned by
 * test/http/attacks-tokens.test.ts; this states the plug-in contract itself.
 */
import { createHmac, randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { CLIENT_ASSERTION_TYPE } from "../../src/auth/client-assertion.js";
import type { ClientAuthContext, TokenRequest } from "../../src/auth/client-method.js";
import { clientAuthMethods } from "../../src/auth/client-methods.js";
import { ClientSecretHasher, clientSecretMethod, generateClientSecret } from "../../src/auth/client-secret.js";
import type { ServerCredential } from "../../src/domain.js";
import { BrokerError } from "../../src/errors.js";
import { legacyScryptHash } from "../helpers/token-attacks.js";

const KEY = randomBytes(32);
const hasher = new ClientSecretHasher(KEY);
const context: ClientAuthContext = {
  clientId: "github-mcp",
  now: Date.now(),
  audiences: ["http://broker"],
  rememberAssertion: () => Promise.resolve(true),
  secretHasher: hasher,
  replaceSecretHash: () => Promise.reject(new Error("nothing to re-hash")),
};

const methods = Object.values(clientAuthMethods);

describe("client authentication methods", () => {
  it("are registered under their own name", () => {
    for (const [name, method] of Object.entries(clientAuthMethods)) expect(method.name).toBe(name);
  });

  it.each<[string, TokenRequest, string[]]>([
    ["a client secret", { client_secret: "s" }, ["client_secret"]],
    ["an empty client secret (still the secret method: it fails verification)", { client_secret: "" }, ["client_secret"]],
    ["an assertion", { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: "x.y.z" }, ["private_key_jwt"]],
    ["only an assertion type", { client_assertion_type: CLIENT_ASSERTION_TYPE }, ["private_key_jwt"]],
    ["both", { client_secret: "s", client_assertion: "x.y.z" }, ["client_secret", "private_key_jwt"]],
    ["neither", {}, []],
  ])("%s selects %j", (_what, request, expected) => {
    expect(methods.filter((method) => method.presentedIn(request)).map((method) => method.name)).toEqual(expected);
  });

  it("private_key_jwt names a wrong assertion type as a request problem", () => {
    expect(clientAuthMethods.private_key_jwt.requestProblem({ client_assertion_type: "urn:other", client_assertion: "x" })).toBe(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    expect(clientAuthMethods.private_key_jwt.requestProblem({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: "x" })).toBeUndefined();
  });

  const secretCredential = (secretHash: string, id = "c1"): ServerCredential => ({ id, serverId: "github-mcp", kind: "client_secret", secretHash, publicJwk: null, createdAt: 0, revokedAt: null });

  it("client_secret proves the client only with a matching active secret, and never throws for a wrong one", async () => {
    const credential = secretCredential(hasher.hash("right"));
    const method = clientAuthMethods.client_secret;
    expect(await method.authenticate({ client_secret: "right" }, [credential], context)).toEqual({ authenticated: true });
    expect(await method.authenticate({ client_secret: "wrong" }, [credential], context)).toEqual({ authenticated: false });
    expect(await method.authenticate({ client_secret: "right" }, [], context)).toEqual({ authenticated: false });
    expect(await method.authenticate({ client_secret: "right" }, [credential], { ...context, secretHasher: new ClientSecretHasher(randomBytes(32)) }), "under another key").toEqual({ authenticated: false });
  });

  it("stores a new secret as HMAC-SHA-256 under the broker key, prefixed with its scheme, never the secret itself", () => {
    const secret = generateClientSecret();
    const stored = hasher.hash(secret);
    expect(stored).toBe(`hmac-sha256$${createHmac("sha256", KEY).update(secret).digest("base64url")}`);
    expect(stored).not.toContain(secret.slice(4));
    expect(() => new ClientSecretHasher(Buffer.alloc(16))).toThrow(TypeError);
  });

  it.each([
    ["an unknown scheme", "md5$abc"],
    ["a truncated HMAC", `hmac-sha256$${Buffer.alloc(31).toString("base64url")}`],
    ["an empty HMAC", "hmac-sha256$"],
    ["scrypt with a missing part", "scrypt$1024$8$1$c2FsdA"],
    ["scrypt with a bad cost", "scrypt$x$8$1$c2FsdA$aGFzaA"],
    ["scrypt with a short hash", `scrypt$1024$8$1$c2FsdA$${Buffer.alloc(8).toString("base64url")}`],
  ])("a malformed stored hash (%s) matches nothing and does not throw", async (_what, stored) => {
    expect(await clientSecretMethod.authenticate({ client_secret: "right" }, [secretCredential(stored)], context)).toEqual({ authenticated: false });
  });

  it("a legacy scrypt entry still verifies and is re-hashed as HMAC on its first successful use (compare-and-set); a wrong secret re-hashes nothing", async () => {
    const legacy = legacyScryptHash("right");
    const replaced: Array<[string, string, string]> = [];
    const recording: ClientAuthContext = { ...context, replaceSecretHash: (id, old, next) => (replaced.push([id, old, next]), Promise.resolve(true)) };
    expect(await clientSecretMethod.authenticate({ client_secret: "wrong" }, [secretCredential(legacy)], recording)).toEqual({ authenticated: false });
    expect(replaced).toEqual([]);
    expect(await clientSecretMethod.authenticate({ client_secret: "right" }, [secretCredential(hasher.hash("other"), "c0"), secretCredential(legacy)], recording)).toEqual({ authenticated: true });
    expect(replaced).toEqual([["c1", legacy, hasher.hash("right")]]);
    // Another broker re-hashed it first: the compare-and-set fails, the client is still authenticated.
    const lost: ClientAuthContext = { ...context, replaceSecretHash: () => Promise.resolve(false) };
    expect(await clientSecretMethod.authenticate({ client_secret: "right" }, [secretCredential(legacy)], lost)).toEqual({ authenticated: true });
    replaced.length = 0;
    expect(await clientSecretMethod.authenticate({ client_secret: "right" }, [secretCredential(hasher.hash("right"))], recording)).toEqual({ authenticated: true });
    expect(replaced, "an HMAC entry is not rewritten").toEqual([]);
  });

  it("private_key_jwt does not prove a client with no registered key, and rejects a malformed assertion with its reason", async () => {
    const method = clientAuthMethods.private_key_jwt;
    const request = { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: "not-a-jwt" };
    expect(await method.authenticate(request, [], context)).toEqual({ authenticated: false });
    const key: ServerCredential = {
      id: "k1",
      serverId: "github-mcp",
      kind: "public_key",
      secretHash: null,
      publicJwk: JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }),
      createdAt: 0,
      revokedAt: null,
    };
    expect(await method.authenticate(request, [key], context)).toEqual({
      authenticated: false,
      rejection: { reason: "invalid_assertion: client assertion is malformed", message: "client assertion is malformed" },
    });
  });

  it("private_key_jwt fails closed with the store's error when the replay check cannot be written: a valid assertion is not a wrong credential", async () => {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const key: ServerCredential = {
      id: "k1",
      serverId: "github-mcp",
      kind: "public_key",
      secretHash: null,
      publicJwk: JSON.stringify({ ...(await exportJWK(publicKey)), kid: "k1" }),
      createdAt: 0,
      revokedAt: null,
    };
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "EdDSA", kid: "k1" })
      .setIssuer("github-mcp")
      .setSubject("github-mcp")
      .setAudience("http://broker")
      .setJti("jti-1")
      .setIssuedAt(Math.floor(context.now / 1000))
      .setExpirationTime(Math.floor(context.now / 1000) + 60)
      .sign(privateKey);
    const request = { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion };
    const method = clientAuthMethods.private_key_jwt;
    expect(await method.authenticate(request, [key], context)).toEqual({ authenticated: true });
    const storeDown = { ...context, rememberAssertion: () => Promise.reject(new BrokerError("storage_unavailable", "the store is unavailable")) };
    // Answering "wrong credential" (401) here would count a failure toward a lockout and tell the
    // server its key is bad; the broker is what failed (503).
    await expect(method.authenticate(request, [key], storeDown)).rejects.toMatchObject({ code: "storage_unavailable" });
  });
});
