/**
 * The client authentication methods of the token endpoint: which fields select which method, and
 * what each answers for a client with no matching credential. The HTTP behaviour is pinned by
 * test/http/attacks-tokens.test.ts; this states the plug-in contract itself.
 */
import { describe, expect, it } from "vitest";
import { CLIENT_ASSERTION_TYPE } from "../../src/auth/client-assertion.js";
import type { ClientAuthContext, TokenRequest } from "../../src/auth/client-method.js";
import { clientAuthMethods } from "../../src/auth/client-methods.js";
import { hashClientSecret } from "../../src/auth/client-secret.js";
import type { ServerCredential } from "../../src/domain.js";

const context: ClientAuthContext = { clientId: "github-mcp", now: Date.now(), audiences: ["http://broker"], rememberAssertion: () => Promise.resolve(true) };
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

  it("client_secret proves the client only with a matching active secret, and never throws for a wrong one", async () => {
    const credential: ServerCredential = {
      id: "c1",
      serverId: "github-mcp",
      kind: "client_secret",
      secretHash: await hashClientSecret("right", { N: 2 ** 10, r: 8, p: 1 }),
      publicJwk: null,
      createdAt: 0,
      revokedAt: null,
    };
    const method = clientAuthMethods.client_secret;
    expect(await method.authenticate({ client_secret: "right" }, [credential], context)).toEqual({ authenticated: true });
    expect(await method.authenticate({ client_secret: "wrong" }, [credential], context)).toEqual({ authenticated: false });
    expect(await method.authenticate({ client_secret: "right" }, [], context)).toEqual({ authenticated: false });
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
});
