/**
 * Routes declared with their OpenAPI definition (@hono/zod-openapi), and the document built from
 * them, served at GET /v1/openapi.json.
 *
 * {@link route} registers a definition in the app's OpenAPI registry and mounts the handlers at
 * the same method and path. It does not add the generated request validators: the routes validate
 * their bodies with the same zod schemas through http/body.ts, which answers the broker's own
 * error body and codes (`unsupported_media_type`, `invalid_json`, `invalid_request` with its
 * problems) where the generated validators would answer 415/400 with other codes, and which costs
 * the hot path one parse and one safeParse, nothing more.
 */
import { OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Handler, MiddlewareHandler } from "hono";
import type { z } from "zod";
import type { AppEnv } from "./context.js";
import { ErrorBody } from "./schemas.js";

export type BrokerApp = OpenAPIHono<AppEnv>;

export function brokerApp(): BrokerApp {
  return new OpenAPIHono<AppEnv>();
}

export interface BrokerRoute extends RouteConfig {
  /** The hono path when it differs from `path` with `{name}` as `:name` (e.g. `:path{.+}` for a secret name). */
  honoPath?: string;
}

/** Registers `definition` for the document and mounts `handlers` at its method and path. */
export function route(app: BrokerApp, definition: BrokerRoute, ...handlers: Array<MiddlewareHandler<AppEnv> | Handler<AppEnv>>): void {
  const { honoPath, ...config } = definition;
  app.openAPIRegistry.registerPath(config);
  const path = honoPath ?? config.path.replaceAll(/\{([^}]+)\}/g, ":$1");
  app.on(config.method.toUpperCase(), path, ...(handlers as [Handler<AppEnv>]));
}

/** A JSON response of `schema`. */
export function json(schema: z.ZodType, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body of `schema`. */
export function jsonBody(schema: z.ZodType, required = true) {
  return { required, content: { "application/json": { schema } } };
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "invalid request (invalid_request, invalid_json, invalid_path)",
  401: "missing, invalid or revoked token (unauthorized, invalid_token)",
  403: "refused by policy or role (forbidden, denied)",
  404: "not found",
  409: "conflict",
  410: "lease ended (lease_expired, lease_revoked)",
  413: "body too large (payload_too_large)",
  415: "body is not JSON (unsupported_media_type)",
  422: "invalid policy files",
  429: "too many requests from this address (rate_limited, with Retry-After; too_many_streams)",
  503: "storage, audit or a backend unavailable; nothing was released",
};

/**
 * The broker's error body at each of `statuses` (every route may also answer 429 `rate_limited`,
 * its source's budget spent, and 500 `internal`).
 */
export function errors(...statuses: number[]) {
  const responses: Record<number, ReturnType<typeof json>> = {};
  for (const status of new Set([...statuses, 429, 500])) responses[status] = json(ErrorBody, ERROR_DESCRIPTIONS[status] ?? "internal error");
  return responses;
}

export const serverSecurity = [{ serverToken: [] }];
export const operatorSecurity = [{ operatorToken: [] }];

/**
 * GET /v1/openapi.json: unauthenticated, cacheable; built once, on first request, from every route
 * registered on `app` (so it is called after the route groups are mounted).
 */
export function publishDocument(app: BrokerApp): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "serverToken", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "A broker token from POST /v1/auth/token (EdDSA-signed JWT, `sub` = server id).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "operatorToken", {
    type: "http",
    scheme: "bearer",
    description: "An operator token (`cbo_...`), given once by `credbroker init` or `operator add`; role-checked per route.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "scrapeToken", {
    type: "http",
    scheme: "bearer",
    description: "The token in the file `metrics.token_file` names; GET /metrics is open when it is not set.",
  });
  let document: string | undefined;
  const definition = {
    method: "get" as const,
    path: "/v1/openapi.json",
    summary: "This document (OpenAPI 3.1)",
    tags: ["meta"],
    responses: { 200: { description: "the OpenAPI 3.1 document of this API", content: { "application/json": { schema: { type: "object" as const } } } } },
  };
  app.openAPIRegistry.registerPath(definition);
  app.get(definition.path, (c) => {
    document ??= JSON.stringify(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "credbroker",
          version: "1",
          description: "Short-lived, scoped, audited credentials for MCP servers. Errors: `{\"error\": {\"code\", \"message\", \"request_id\"}}`; the token endpoint answers RFC 6749 errors.",
        },
      }),
    );
    return c.body(document, 200, { "content-type": "application/json", "cache-control": "public, max-age=300" });
  });
}
