/** POST /v1/auth/token (client credentials, form or JSON) and the published signing keys. */
import { z } from "@hono/zod-openapi";
import type { TokenRequest } from "../../auth/client-credentials.js";
import { BrokerError } from "../../errors.js";
import { oauthErrorHandler, oauthValidationError } from "../middleware/errors.js";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { requestMeta } from "../request.js";
import { setHeader } from "../headers.js";
import { brokerApp, json, route } from "../openapi.js";
import { Jwks, OAuthErrorBody, ErrorBody, TokenAnswer } from "../schemas.js";

/** Empty parameters count as omitted (RFC 6749 section 3.2). */
const parameter = (max: number) =>
  z.preprocess((value) => (value === "" ? undefined : value), z.string().max(max).optional());

/**
 * Unknown parameters are ignored, as RFC 6749 section 3.2 requires (clients send `scope`,
 * `resource`, `audience`...); the body limit bounds how many there can be.
 */
const tokenRequest = z.object({
  grant_type: parameter(100),
  client_id: parameter(200),
  client_secret: parameter(1000),
  client_assertion_type: parameter(200),
  client_assertion: parameter(8000),
}).openapi("TokenRequest");

/** `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 section 2.3.1); undefined when malformed. */
function parseBasic(encoded: string): { id: string; secret: string } | undefined {
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 1) return undefined;
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

async function parseTokenRequest(contentType: string, body: string): Promise<TokenRequest> {
  let raw: unknown;
  if (/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
    const form = new URLSearchParams(body);
    const fields = new Map<string, string>();
    for (const [key, value] of form) {
      if (fields.has(key)) throw oauthValidationError("invalid_request", `parameter ${key.slice(0, 50)} is repeated`);
      fields.set(key, value);
    }
    raw = Object.fromEntries(fields);
  } else if (/^application\/json\s*(;|$)/i.test(contentType)) {
    try {
      raw = JSON.parse(body);
    } catch {
      throw oauthValidationError("invalid_request", "the body is not valid JSON");
    }
  } else {
    throw oauthValidationError("invalid_request", "send application/x-www-form-urlencoded or application/json");
  }
  const parsed = tokenRequest.safeParse(raw);
  if (!parsed.success) throw oauthValidationError("invalid_request", parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
  return parsed.data;
}

/**
 * True when the request carries no Origin (servers and curl send none) or the broker's own: the
 * origin of its issuer (`public_url`, else the listen URL) or of the Host the request was sent to.
 * A browser adds Origin to every cross-site form POST, so a page elsewhere cannot drive the token
 * endpoint (e.g. to spend a source address's failure budget from its visitors' browsers).
 */
function sameOriginOrNone(origin: string | undefined, issuer: string, requestUrl: string): boolean {
  if (origin === undefined) return true;
  let sent: URL;
  try {
    sent = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file: pages) and anything unparsable
  }
  if (issuer !== "" && URL.canParse(issuer) && sent.origin === new URL(issuer).origin) return true;
  // The scheme may differ behind a TLS-terminating proxy; the host a browser sent the request to may not.
  return sent.host === new URL(requestUrl).host;
}

export function authRoutes(deps: AppDeps) {
  const app = brokerApp();
  const token = brokerApp();
  // The token endpoint answers its refusals in RFC 6749 form.
  token.onError(oauthErrorHandler(deps));

  route(
    token,
    {
      method: "post",
      path: "/v1/auth/token",
      summary: "A broker token for a server (OAuth 2.0 client credentials; client_secret, Basic, or RFC 7523 private_key_jwt)",
      tags: ["auth"],
      request: {
        body: {
          required: true,
          content: { "application/x-www-form-urlencoded": { schema: tokenRequest }, "application/json": { schema: tokenRequest } },
        },
      },
      responses: {
        200: json(TokenAnswer, "a broker token"),
        400: json(OAuthErrorBody, "invalid_request, unsupported_grant_type"),
        401: json(OAuthErrorBody, "invalid_client (with WWW-Authenticate: Basic)"),
        403: json(ErrorBody, "forbidden: a cross-origin request (an Origin header that is not the broker's)"),
        429: json(OAuthErrorBody, "rate_limited (with Retry-After)"),
        413: json(ErrorBody, "body too large"),
        500: json(ErrorBody, "internal error"),
        503: json(ErrorBody, "storage or audit unavailable"),
      },
    },
    async (c) => {
    setHeader(c, "cache-control", "no-store");
    setHeader(c, "pragma", "no-cache");
    if (!sameOriginOrNone(c.req.header("origin"), deps.tokens.issuer, c.req.url)) {
      throw new BrokerError("forbidden", "cross-origin requests to the token endpoint are refused: the Origin header is not this broker's");
    }
    // Basic auth (RFC 6749 2.3.1) is accepted as an alternative way to send the client secret.
    const request = await parseTokenRequest(c.req.header("content-type") ?? "", await c.req.text());
    const basic = c.req.header("authorization");
    // The scheme name is case-insensitive (RFC 7235 section 2.1), as for Bearer.
    if (basic !== undefined && /^basic /i.test(basic)) {
      const credentials = parseBasic(basic.slice(6));
      if (!credentials || request.client_secret !== undefined) throw oauthValidationError("invalid_request", "malformed Basic credentials");
      if (request.client_id !== undefined && request.client_id !== credentials.id) throw oauthValidationError("invalid_request", "client_id differs from the Basic credentials");
      request.client_id = credentials.id;
      request.client_secret = credentials.secret;
    }
    if (request.grant_type !== "client_credentials") {
      throw oauthValidationError(request.grant_type ? "unsupported_grant_type" : "invalid_request", "grant_type must be client_credentials");
    }
    return c.json(await deps.clientCredentials.exchange(request, requestMeta(c)));
    },
  );
  app.route("/", token);

  route(
    app,
    {
      method: "get",
      path: "/.well-known/jwks.json",
      summary: "The public keys that verify broker tokens (current and within their overlap)",
      tags: ["auth"],
      responses: { 200: json(Jwks, "a JWK set") },
    },
    (c) => {
      setHeader(c, "cache-control", "public, max-age=300");
      return c.json(deps.signingKeys.publicJwks());
    },
  );

  return app;
}
