/** The routes MCP servers call: batch read, single read, and their own leases. */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { leaseToJson } from "../../leases/lease.js";
import { BrokerError } from "../../errors.js";
import { readJson, validate } from "../body.js";
import type { AppEnv } from "../context.js";
import { requestMeta, serverActor } from "../request.js";
import type { AppDeps } from "../deps.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { secretAnswer } from "../headers.js";

const readRequest = z.object({ names: z.array(z.unknown()).min(1).max(100) }).strict();
const renewRequest = z.object({ increment: z.number().int().positive().max(365 * 86400).optional() }).strict();

export function secretRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = new Hono<AppEnv>();
  const caller = (c: Context<AppEnv>) => {
    const actor = serverActor(c);
    return { serverId: actor.id, tokenRef: actor.tokenRef ?? "" };
  };

  app.use("/v1/secrets/*", auth.requireServer, rejectDotSegments);
  app.use("/v1/leases/*", auth.requireServer);
  app.use("/v1/leases", auth.requireServer);

  app.post("/v1/secrets/read", async (c) => {
    const { names } = await readJson(c, readRequest);
    const meta = requestMeta(c);
    const issued = await deps.secretReader.read(caller(c), names, meta);
    return secretAnswer(c, JSON.stringify({ request_id: meta.requestId, secrets: Object.fromEntries(issued.map(({ name, request_id: _, ...rest }) => [name, rest])) }));
  });

  app.get("/v1/secrets/:path{.+}", async (c) => {
    const [issued] = await deps.secretReader.read(caller(c), [c.req.param("path")], requestMeta(c));
    return secretAnswer(c, JSON.stringify(issued));
  });

  app.post("/v1/leases/:id/renew", async (c) => {
    const text = await c.req.text();
    const body = text.trim() === "" ? {} : validate(renewRequest, parseJsonOr400(text));
    const lease = await deps.leases.renew(serverActor(c), c.req.param("id"), body.increment, requestMeta(c));
    const json = leaseToJson(lease, deps.clock());
    return c.json({ lease_id: json.lease_id, lease_ttl: json.ttl, renewable: json.renewable, expires_at: json.expires_at });
  });

  app.delete("/v1/leases/:id", async (c) => {
    await deps.leases.revokeOwn(serverActor(c), c.req.param("id"), requestMeta(c));
    return c.body(null, 204);
  });

  app.get("/v1/leases", async (c) => {
    const leases = await deps.leases.list({ serverId: caller(c).serverId, activeOnly: c.req.query("all") !== "true" });
    const now = deps.clock();
    return c.json({ leases: leases.map((lease) => leaseToJson(lease, now)) });
  });

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
