/** POST /v1/auth/token (client credentials, form or JSON) and the published signing keys. */
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { oauthError, type TokenRequest } from "../../auth/client-credentials.js";
import { BrokerError } from "../../errors.js";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { auditRejection } from "../reject-audit.js";
import { requestMeta } from "../request.js";
import { setHeader } from "../headers.js";

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
});

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
      if (fields.has(key)) throw oauthError("invalid_request", `parameter ${key.slice(0, 50)} is repeated`);
      fields.set(key, value);
    }
    raw = Object.fromEntries(fields);
  } else if (/^application\/json\s*(;|$)/i.test(contentType)) {
    try {
      raw = JSON.parse(body);
    } catch {
      throw oauthError("invalid_request", "the body is not valid JSON");
    }
  } else {
    throw oauthError("invalid_request", "send application/x-www-form-urlencoded or application/json");
  }
  const parsed = tokenRequest.safeParse(raw);
  if (!parsed.success) throw oauthError("invalid_request", parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
  return parsed.data;
}

export function authRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post("/v1/auth/token", async (c) => {
    setHeader(c, "cache-control", "no-store");
    setHeader(c, "pragma", "no-cache");
    try {
      // Basic auth (RFC 6749 2.3.1) is accepted as an alternative way to send the client secret.
      const request = await parseTokenRequest(c.req.header("content-type") ?? "", await c.req.text());
      const basic = c.req.header("authorization");
      if (basic?.startsWith("Basic ")) {
        const credentials = parseBasic(basic.slice(6));
        if (!credentials || request.client_secret !== undefined) throw oauthError("invalid_request", "malformed Basic credentials");
        if (request.client_id !== undefined && request.client_id !== credentials.id) throw oauthError("invalid_request", "client_id differs from the Basic credentials");
        request.client_id = credentials.id;
        request.client_secret = credentials.secret;
      }
      return c.json(await deps.clientCredentials.exchange(request, requestMeta(c)));
    } catch (error) {
      if (!(error instanceof BrokerError) || !error.data?.oauth_error) throw error;
      await auditRejection(deps, c, error, "auth.token");
      if (error.retryAfterSeconds !== undefined) setHeader(c, "retry-after", String(error.retryAfterSeconds));
      if (error.status === 401) setHeader(c, "www-authenticate", 'Basic realm="credbroker"');
      return c.json(
        { error: error.data.oauth_error as string, error_description: error.message, request_id: c.get("requestId") },
        error.status as ContentfulStatusCode,
      );
    }
  });

  app.get("/.well-known/jwks.json", (c) => {
    setHeader(c, "cache-control", "public, max-age=300");
    return c.json(deps.signingKeys.publicJwks());
  });

  return app;
}
