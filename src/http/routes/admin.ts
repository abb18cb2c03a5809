/** Operator routes: servers, secrets, leases, operators, keys and policy. Each checks one permission. */
import { Hono } from "hono";
import { z } from "zod";
import type { JWK } from "jose";
import { auditEntry } from "../../audit/entry.js";
import { BrokerError } from "../../errors.js";
import { leaseToJson } from "../../leases/lease.js";
import { operatorToJson } from "../../operators/service.js";
import { explain } from "../../policy/explain.js";
import { generateValue, secretMetadataToJson } from "../../secrets/admin.js";
import { parseSecretName } from "../../secrets/name.js";
import { serverToJson } from "../../servers/service.js";
import { readJson, validate } from "../body.js";
import { parseJsonOr400, rejectDotSegments } from "./secrets.js";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { operatorActor, requestMeta } from "../request.js";
import { setHeader } from "../headers.js";

const labels = z.record(z.string().regex(/^[A-Za-z0-9._/-]{1,63}$/), z.string().max(256)).refine((value) => Object.keys(value).length <= 64, "at most 64 labels");
const jwk = z.record(z.string(), z.unknown()).transform((value) => value as JWK);

const registerServer = z
  .object({
    id: z.string().max(63),
    description: z.string().max(1000).optional(),
    labels: labels.optional(),
    public_jwk: jwk.optional(),
    no_secret: z.boolean().optional(),
  })
  .strict();

const rotateCredentials = z.object({ public_jwk: jwk.optional() }).strict();

const writeSecret = z
  .object({
    path: z.string().max(512),
    value: z.string().optional(),
    value_base64: z.string().optional(),
    generate: z.number().int().min(8).max(4096).optional(),
    description: z.string().max(1000).optional(),
    owner: z.string().max(200).optional(),
    labels: labels.optional(),
    sensitivity: z.enum(["low", "medium", "high"]).optional(),
  })
  .strict()
  .refine((body) => [body.value, body.value_base64, body.generate].filter((v) => v !== undefined).length === 1, "give exactly one of value, value_base64, generate");

const readSecret = z.object({ path: z.string().max(512), version: z.number().int().positive().optional() }).strict();

const revokeLeases = z
  .object({ lease_id: z.string().max(100).optional(), server: z.string().max(63).optional(), secret: z.string().max(512).optional() })
  .strict()
  .refine((body) => [body.lease_id, body.server, body.secret].filter((v) => v !== undefined).length === 1, "give exactly one of lease_id, server, secret");

const createOperator = z.object({ name: z.string().max(128), role: z.string().max(64) }).strict();

export function adminRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = new Hono<AppEnv>();
  const { requireOperator } = auth;
  app.use("/v1/admin/secrets/*", rejectDotSegments);

  // servers ---------------------------------------------------------------------------------
  app.post("/v1/admin/servers", requireOperator("servers"), async (c) => {
    const body = await readJson(c, registerServer);
    const { server, clientSecret } = await deps.servers.register(
      operatorActor(c),
      { id: body.id, ...(body.description !== undefined && { description: body.description }), ...(body.labels && { labels: body.labels }), ...(body.public_jwk && { publicJwk: body.public_jwk }), ...(body.no_secret !== undefined && { noSecret: body.no_secret }) },
      requestMeta(c),
    );
    setHeader(c, "cache-control", "no-store");
    return c.json({ client_id: server.id, client_secret: clientSecret, server: serverToJson(server) }, 201);
  });
  app.get("/v1/admin/servers", requireOperator("servers"), async (c) => c.json({ servers: (await deps.servers.list()).map(serverToJson) }));
  app.get("/v1/admin/servers/:id", requireOperator("servers"), async (c) => c.json(serverToJson(await deps.servers.get(c.req.param("id")))));
  app.post("/v1/admin/servers/:id/disable", requireOperator("servers"), async (c) =>
    c.json(serverToJson(await deps.servers.setDisabled(operatorActor(c), c.req.param("id"), true, requestMeta(c)))),
  );
  app.post("/v1/admin/servers/:id/enable", requireOperator("servers"), async (c) =>
    c.json(serverToJson(await deps.servers.setDisabled(operatorActor(c), c.req.param("id"), false, requestMeta(c)))),
  );
  app.post("/v1/admin/servers/:id/rotate-credentials", requireOperator("servers"), async (c) => {
    const text = await c.req.text();
    const body = text.trim() === "" ? {} : validate(rotateCredentials, parseJsonOr400(text));
    const result = await deps.servers.rotateCredentials(operatorActor(c), c.req.param("id"), body.public_jwk ? { publicJwk: body.public_jwk } : {}, requestMeta(c));
    setHeader(c, "cache-control", "no-store");
    return c.json({ client_id: c.req.param("id"), client_secret: result.clientSecret });
  });

  // secrets ---------------------------------------------------------------------------------
  app.post("/v1/admin/secrets", requireOperator("write"), async (c) => {
    const body = await readJson(c, writeSecret);
    const value =
      body.value !== undefined ? Buffer.from(body.value, "utf8") : body.value_base64 !== undefined ? Buffer.from(body.value_base64, "base64") : Buffer.from(generateValue(body.generate!), "utf8");
    const options = {
      ...(body.description !== undefined && { description: body.description }),
      ...(body.owner !== undefined && { owner: body.owner }),
      ...(body.labels && { labels: body.labels }),
      ...(body.sensitivity && { sensitivity: body.sensitivity }),
    };
    const version = await deps.secretAdmin.put(operatorActor(c), body.path, value, options, requestMeta(c));
    return c.json({ path: body.path, version }, 201);
  });
  app.get("/v1/admin/secrets", requireOperator("write"), async (c) => {
    const secrets = await deps.secretAdmin.list(c.req.query("prefix") ?? "");
    return c.json({ secrets: secrets.map(secretMetadataToJson) });
  });
  app.post("/v1/admin/secrets/read", requireOperator("read"), async (c) => {
    const body = await readJson(c, readSecret);
    setHeader(c, "cache-control", "no-store");
    return c.json(await deps.secretAdmin.get(operatorActor(c), body.path, body.version, requestMeta(c)));
  });
  app.get("/v1/admin/secrets/:path{.+}", requireOperator("write"), async (c) => {
    const path = c.req.param("path");
    const [metadata, versions] = await Promise.all([deps.secretAdmin.metadata(path), deps.secretAdmin.versions(path)]);
    return c.json({
      ...secretMetadataToJson(metadata),
      versions: versions.map((v) => ({ version: v.version, created_at: new Date(v.createdAt).toISOString(), created_by: v.createdBy, destroyed: v.destroyed })),
    });
  });
  app.delete("/v1/admin/secrets/:path{.+}", requireOperator("delete"), async (c) => {
    await deps.deleteSecret(operatorActor(c), c.req.param("path"), requestMeta(c));
    return c.body(null, 204);
  });

  // leases ----------------------------------------------------------------------------------
  app.get("/v1/admin/leases", requireOperator("revoke"), async (c) => {
    const server = c.req.query("server");
    const secret = c.req.query("secret");
    const leases = await deps.leases.list({ ...(server && { serverId: server }), ...(secret && { secretPath: parseSecretName(secret).name }), activeOnly: c.req.query("all") !== "true" });
    const now = deps.clock();
    return c.json({ leases: leases.map((lease) => leaseToJson(lease, now)) });
  });
  app.post("/v1/admin/leases/revoke", requireOperator("revoke"), async (c) => {
    const body = await readJson(c, revokeLeases);
    const target = body.lease_id !== undefined ? { id: body.lease_id } : body.server !== undefined ? { serverId: body.server } : { secretPath: parseSecretName(body.secret).path };
    const actor = operatorActor(c);
    const revoked = await deps.leases.revoke(actor, target, requestMeta(c), `revoked by operator ${actor.id}`);
    return c.json({ revoked: revoked.length, lease_ids: revoked.map((lease) => lease.id) });
  });
  app.delete("/v1/admin/leases/:id", requireOperator("revoke"), async (c) => {
    const actor = operatorActor(c);
    const revoked = await deps.leases.revoke(actor, { id: c.req.param("id") }, requestMeta(c), `revoked by operator ${actor.id}`);
    // The revocation audited the attempt ("no active lease matched"): no second record for the 404.
    if (revoked.length === 0) throw new BrokerError("not_found", `no active lease ${c.req.param("id")}`, { audited: true });
    return c.json({ revoked: 1, lease_ids: [c.req.param("id")] });
  });

  // operators -------------------------------------------------------------------------------
  app.post("/v1/admin/operators", requireOperator("operators"), async (c) => {
    const body = await readJson(c, createOperator);
    const { operator, token } = await deps.operators.create(operatorActor(c), body.name, body.role, requestMeta(c));
    setHeader(c, "cache-control", "no-store");
    return c.json({ name: operator.name, role: operator.role, token }, 201);
  });
  app.get("/v1/admin/operators", requireOperator("operators"), async (c) => c.json({ operators: (await deps.operators.list()).map(operatorToJson) }));
  app.delete("/v1/admin/operators/:name", requireOperator("operators"), async (c) => {
    await deps.operators.revoke(operatorActor(c), c.req.param("name"), requestMeta(c));
    return c.body(null, 204);
  });

  // keys ------------------------------------------------------------------------------------
  app.post("/v1/admin/keys/rotate", requireOperator("keys"), async (c) => {
    const target = c.req.query("target") ?? "master";
    const actor = operatorActor(c);
    if (target === "signing") {
      const { kid } = await deps.rotateSigningKey(actor, requestMeta(c));
      return c.json({ target, kid });
    }
    if (target !== "master") throw new BrokerError("invalid_request", "target must be master or signing");
    const result = await deps.rotateMasterKey(() => {});
    await deps.audit.record(auditEntry(actor, requestMeta(c), { action: "admin.keys.rotate_master", resource: result.keyId, outcome: "allowed", reason: `${result.rewrapped} data keys re-wrapped` }, deps.clock()));
    return c.json({ target, key_id: result.keyId, rewrapped: result.rewrapped });
  });

  // policy ----------------------------------------------------------------------------------
  app.get("/v1/admin/policy/explain", requireOperator("audit"), (c) => {
    const server = c.req.query("server");
    const secret = c.req.query("secret");
    const action = c.req.query("action") ?? "read";
    if (!server || !secret) throw new BrokerError("invalid_request", "server and secret are required");
    if (action !== "read" && action !== "list") throw new BrokerError("invalid_request", "action must be read or list");
    parseSecretName(secret);
    const sourceIp = c.req.query("source_ip");
    const result = explain(deps.policy.current(), { serverId: server, secretPath: secret, action, ...(sourceIp && { sourceIp }) });
    return c.json(result);
  });
  app.post("/v1/admin/policy/reload", requireOperator("policy"), (c) => {
    const outcome = deps.policy.reload();
    return c.json(outcome, outcome.ok ? 200 : 422);
  });

  return app;
}
