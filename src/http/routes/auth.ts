/** POST /v1/auth/token (client credentials, form or JSON) and the published signing keys. */
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { oauthError, type TokenRequest } from "../../auth/client-credentials.js";
import { BrokerError } from "../../errors.js";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";

const tokenRequest = z
  .object({
    grant_type: z.string().max(100).optional(),
    client_id: z.string().max(200).optional(),
    client_secret: z.string().max(1000).optional(),
    client_assertion_type: z.string().max(200).optional(),
    client_assertion: z.string().max(8000).optional(),
    scope: z.string().max(1000).optional(),
  })
  .strict();

async function parseTokenRequest(contentType: string, body: string): Promise<TokenRequest> {
  let raw: unknown;
  if (/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
    const form = new URLSearchParams(body);
    const fields: Record<string, string> = {};
    for (const [key, value] of form) {
      if (key in fields) throw oauthError("invalid_request", `parameter ${key} is repeated`);
      fields[key] = value;
    }
    raw = fields;
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
    c.header("cache-control", "no-store");
    c.header("pragma", "no-cache");
    try {
      // Basic auth (RFC 6749 2.3.1) is accepted as an alternative way to send the client secret.
      const request = await parseTokenRequest(c.req.header("content-type") ?? "", await c.req.text());
      const basic = c.req.header("authorization");
      if (basic?.startsWith("Basic ")) {
        const decoded = Buffer.from(basic.slice(6), "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon < 0 || request.client_secret !== undefined) throw oauthError("invalid_request", "malformed Basic credentials");
        request.client_id ??= decodeURIComponent(decoded.slice(0, colon));
        request.client_secret = decodeURIComponent(decoded.slice(colon + 1));
      }
      return c.json(await deps.clientCredentials.exchange(request, { requestId: c.get("requestId"), sourceIp: c.get("sourceIp") }));
    } catch (error) {
      if (!(error instanceof BrokerError) || !error.data?.oauth_error) throw error;
      if (error.retryAfterSeconds !== undefined) c.header("retry-after", String(error.retryAfterSeconds));
      if (error.status === 401) c.header("www-authenticate", 'Basic realm="credbroker"');
      return c.json(
        { error: error.data.oauth_error as string, error_description: error.message, request_id: c.get("requestId") },
        error.status as ContentfulStatusCode,
      );
    }
  });

  app.get("/.well-known/jwks.json", (c) => {
    c.header("cache-control", "public, max-age=300");
    return c.json(deps.signingKeys.publicJwks());
  });

  return app;
}
