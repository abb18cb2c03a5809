/**
 * Operator routes that change something's life: rotate an operator's token, renew any lease,
 * delete a server, roll a secret back to an earlier version's value, destroy one version.
 * Each checks one permission, as the other admin routes do.
 */
import { z } from "@hono/zod-openapi";
import type { Handler } from "hono";
import { leaseToJson } from "../../leases/lease.js";
import { parseDuration } from "../../policy/duration.js";
import type { OperatorPermission } from "../../policy/types.js";
import { validate } from "../body.js";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { setHeader } from "../headers.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { brokerApp, errors, json, jsonBody, operatorSecurity, route, type BrokerRoute } from "../openapi.js";
import { operatorActor, pathParam, requestMeta } from "../request.js";
import { readJson } from "../body.js";
import { Lease, OperatorRotated, SecretRolledBack, SecretVersionDestroyed, ServerDeleted } from "../schemas.js";
import { parseJsonOr400, rejectDotSegments } from "./secrets.js";

const rotateOperator = z
  .object({ ttl: z.string().max(32).optional().describe("the new token's lifetime from now (30d, 12h); without it the expiry stays as it was") })
  .strict()
  .openapi("RotateOperator");

const rollback = z.object({ to: z.number().int().positive().describe("the version whose value becomes the new version") }).strict().openapi("RollbackSecret");
const destroyVersion = z.object({ version: z.number().int().positive() }).strict().openapi("DestroySecretVersion");
const secretPath = z.object({ path: z.string().describe("the secret path, slashes included") });

const renewLease = z
  .object({ increment: z.number().int().positive().max(365 * 86400).optional().describe("seconds; at most the default lease ttl, never past the lease's max ttl") })
  .strict()
  .openapi("OperatorRenewLease");

/** A body that may be left out entirely (an empty POST) or be a JSON object for `schema`. */
async function optionalBody<T extends z.ZodType>(c: Parameters<Handler<AppEnv>>[0], schema: T): Promise<z.infer<T> | Record<string, never>> {
  const text = await c.req.text();
  return text.trim() === "" ? {} : validate(schema, parseJsonOr400(text));
}

export function adminLifecycleRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  app.use("/v1/admin/secrets/*", rejectDotSegments);
  const operatorRoute = (permission: OperatorPermission, definition: Omit<BrokerRoute, "security">, handler: Handler<AppEnv>) =>
    route(app, { ...definition, security: operatorSecurity, description: `Needs the ${permission} permission.${definition.description ? ` ${definition.description}` : ""}` }, auth.requireOperator(permission), handler);

  operatorRoute(
    "operators",
    {
      method: "post",
      path: "/v1/admin/operators/{name}/rotate",
      summary: "Replace an operator's token: the new one is shown once, the old one is refused at once",
      tags: ["admin: operators"],
      request: { params: z.object({ name: z.string() }), body: jsonBody(rotateOperator, false) },
      responses: { 200: json(OperatorRotated, "the new token, shown once"), ...errors(400, 401, 403, 404, 415, 503) },
    },
    async (c) => {
      const body = await optionalBody(c, rotateOperator);
      const ttlSeconds = "ttl" in body && body.ttl !== undefined ? parseDuration(body.ttl) : undefined;
      const { operator, token } = await deps.operators.rotate(operatorActor(c), pathParam(c, "name"), requestMeta(c), ttlSeconds);
      setHeader(c, "cache-control", "no-store");
      return c.json({ name: operator.name, role: operator.role, token, expires_at: operator.expiresAt === null ? null : new Date(operator.expiresAt).toISOString() });
    },
  );

  operatorRoute(
    "revoke",
    {
      method: "post",
      path: "/v1/admin/leases/{id}/renew",
      summary: "Renew any server's active lease, as its server could: within its max ttl, while the policy still allows it",
      description: "A grant with a source_cidr condition does not match here (the server's address is unknown): such a lease is renewed by its server.",
      tags: ["admin: leases"],
      request: { params: z.object({ id: z.string() }), body: jsonBody(renewLease, false) },
      responses: { 200: json(Lease, "the renewed lease"), ...errors(400, 401, 403, 404, 409, 410, 415, 503) },
    },
    async (c) => {
      const body = await optionalBody(c, renewLease);
      const lease = await deps.leases.renewAsOperator(operatorActor(c), pathParam(c, "id"), "increment" in body ? body.increment : undefined, requestMeta(c));
      return c.json(leaseToJson(lease, deps.clock()));
    },
  );

  operatorRoute(
    "servers",
    {
      method: "delete",
      path: "/v1/admin/servers/{id}",
      summary: "Delete a server: its tokens are refused, its leases and credentials revoked, at once; an admin may register the id again",
      tags: ["admin: servers"],
      request: { params: z.object({ id: z.string() }) },
      responses: { 200: json(ServerDeleted, "deleted"), ...errors(401, 403, 404, 503) },
    },
    async (c) => {
      const id = pathParam(c, "id");
      const result = await deps.servers.delete(operatorActor(c), id, requestMeta(c));
      return c.json({ id, deleted: true as const, leases_revoked: result.leasesRevoked, credentials_revoked: result.credentialsRevoked });
    },
  );

  operatorRoute(
    "write",
    {
      method: "post",
      path: "/v1/admin/secrets/{path}/rollback",
      honoPath: "/v1/admin/secrets/:path{.+}/rollback",
      summary: "Write an earlier version's value again as a new version (audited; the value is never returned)",
      tags: ["admin: secrets"],
      request: { params: secretPath, body: jsonBody(rollback) },
      responses: { 201: json(SecretRolledBack, "the new version"), ...errors(400, 401, 403, 404, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, rollback);
      const path = pathParam(c, "path");
      const result = await deps.secretAdmin.rollback(operatorActor(c), path, body.to, requestMeta(c));
      return c.json({ path, version: result.version, from: result.from }, 201);
    },
  );

  operatorRoute(
    "delete",
    {
      method: "post",
      path: "/v1/admin/secrets/{path}/destroy",
      honoPath: "/v1/admin/secrets/:path{.+}/destroy",
      summary: "Destroy one version irreversibly (local store: ciphertext erased; Vault KV v2: destroy; AWS: refused)",
      tags: ["admin: secrets"],
      request: { params: secretPath, body: jsonBody(destroyVersion) },
      responses: { 200: json(SecretVersionDestroyed, "destroyed; reading it is now 404"), ...errors(400, 401, 403, 404, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, destroyVersion);
      const path = pathParam(c, "path");
      await deps.secretAdmin.destroyVersion(operatorActor(c), path, body.version, requestMeta(c));
      return c.json({ path, version: body.version, destroyed: true as const });
    },
  );

  return app;
}
