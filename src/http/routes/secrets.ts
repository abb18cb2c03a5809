/** The routes MCP servers call: batch read, single read, and their own leases. */
import type { Context, MiddlewareHandler } from "hono";
import { z } from "@hono/zod-openapi";
import { leaseToJson } from "../../leases/lease.js";
import { BrokerError } from "../../errors.js";
import { readJson, validate } from "../body.js";
import type { AppEnv } from "../context.js";
import { pathParam, requestMeta, serverActor } from "../request.js";
import type { AppDeps } from "../deps.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { sourceKey } from "../middleware/rate-limit.js";
import { secretAnswer } from "../headers.js";
import { brokerApp, errors, json, jsonBody, route, serverSecurity } from "../openapi.js";
import { leaseCursor, nextCursor, pageQuery, requestedPage } from "../pagination.js";
import { BatchReadAnswer, LeaseList, RenewAnswer, SingleReadAnswer } from "../schemas.js";

const readRequest = z
  .object({ names: z.array(z.unknown()).min(1).max(100).describe("secret names, e.g. github/token or kv/app#token") })
  .strict()
  .openapi("ReadRequest");
const renewRequest = z
  .object({ increment: z.number().int().positive().max(365 * 86400).optional().describe("seconds; at most the default lease ttl") })
  .strict()
  .openapi("RenewRequest");

const secretPath = z.object({ path: z.string().describe("the secret name, slashes included, optionally with #key (URL-encoded as %23)") });
const leaseId = z.object({ id: z.string() });
const ownLeasesQuery = z.object({ all: z.enum(["true", "false"]).optional().describe("true: ended leases too"), ...pageQuery });

export function secretRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  const caller = (c: Context<AppEnv>) => {
    const actor = serverActor(c);
    return { serverId: actor.id, tokenRef: actor.tokenRef ?? "" };
  };

  app.use("/v1/secrets/*", auth.requireServer, rejectDotSegments);
  app.use("/v1/leases/*", auth.requireServer);
  app.use("/v1/leases", auth.requireServer);

  route(
    app,
    {
      method: "post",
      path: "/v1/secrets/read",
      summary: "Read a batch of secrets, all or nothing",
      tags: ["secrets"],
      security: serverSecurity,
      request: { body: jsonBody(readRequest) },
      responses: { 200: json(BatchReadAnswer, "every secret, each with its lease"), ...errors(400, 401, 403, 404, 413, 415, 503) },
    },
    async (c) => {
      const { names } = await readJson(c, readRequest);
      // A batch costs one per name (the request itself paid one): each name is a decision and
      // an audit record, so a batch of 100 must not be as cheap as a single read.
      if (names.length > 1) {
        const wait = await deps.requestLimiter.take(sourceKey(c.get("sourceIp")), names.length - 1);
        if (wait > 0) throw new BrokerError("rate_limited", `too many secrets read from this address; retry in ${wait} seconds`, { retryAfterSeconds: wait });
      }
      const meta = requestMeta(c);
      const issued = await deps.secretReader.read(caller(c), names, meta);
      return secretAnswer(c, JSON.stringify({ request_id: meta.requestId, secrets: Object.fromEntries(issued.map(({ name, request_id: _, ...rest }) => [name, rest])) }));
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/secrets/{path}",
      honoPath: "/v1/secrets/:path{.+}",
      summary: "Read one secret",
      tags: ["secrets"],
      security: serverSecurity,
      request: { params: secretPath },
      responses: { 200: json(SingleReadAnswer, "the secret and its lease"), ...errors(400, 401, 403, 404, 503) },
    },
    async (c) => {
      const [issued] = await deps.secretReader.read(caller(c), [pathParam(c, "path")], requestMeta(c));
      return secretAnswer(c, JSON.stringify(issued));
    },
  );

  route(
    app,
    {
      method: "post",
      path: "/v1/leases/{id}/renew",
      summary: "Renew one of the caller's leases",
      tags: ["leases"],
      security: serverSecurity,
      request: { params: leaseId, body: jsonBody(renewRequest, false) },
      responses: { 200: json(RenewAnswer, "the renewed lease"), ...errors(400, 401, 403, 404, 409, 410, 503) },
    },
    async (c) => {
      const text = await c.req.text();
      const body = text.trim() === "" ? {} : validate(renewRequest, parseJsonOr400(text));
      const lease = await deps.leases.renew(serverActor(c), pathParam(c, "id"), body.increment, requestMeta(c));
      const json = leaseToJson(lease, deps.clock());
      return c.json({ lease_id: json.lease_id, lease_ttl: json.ttl, renewable: json.renewable, expires_at: json.expires_at });
    },
  );

  route(
    app,
    {
      method: "delete",
      path: "/v1/leases/{id}",
      summary: "Revoke one of the caller's leases (idempotent for ended leases)",
      tags: ["leases"],
      security: serverSecurity,
      request: { params: leaseId },
      responses: { 204: { description: "revoked" }, ...errors(401, 404, 503) },
    },
    async (c) => {
      await deps.leases.revokeOwn(serverActor(c), pathParam(c, "id"), requestMeta(c));
      return c.body(null, 204);
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/leases",
      summary: "The caller's own leases, oldest issued first, a page at a time",
      tags: ["leases"],
      security: serverSecurity,
      request: { query: ownLeasesQuery },
      responses: { 200: json(LeaseList, "one page of active leases (all with ?all=true)"), ...errors(400, 401, 503) },
    },
    async (c) => {
      const page = await deps.leases.list({ serverId: caller(c).serverId, activeOnly: c.req.query("all") !== "true" }, requestedPage(c, leaseCursor));
      const now = deps.clock();
      return c.json({ leases: page.items.map((lease) => leaseToJson(lease, now)), next_cursor: nextCursor(leaseCursor, page) });
    },
  );

  return app;
}

/**
 * URL normalisation turns `a/../b` into `b` before routing; a secret name is never allowed to hold
 * dot segments, so the raw request path is checked and refused like any invalid name.
 */
export const rejectDotSegments: MiddlewareHandler<AppEnv> = function rejectDotSegments(c, next) {
  const raw = c.env?.incoming?.url ?? "";
  const query = raw.indexOf("?");
  const path = query < 0 ? raw : raw.slice(0, query);
  // Most names hold neither a dot nor a percent sign: skip the pattern for them.
  if ((path.includes(".") || path.includes("%")) && /(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path)) throw new BrokerError("invalid_path", "a secret name cannot contain . or .. segments");
  return next();
};

export function parseJsonOr400(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BrokerError("invalid_json", "the body is not valid JSON");
  }
}
