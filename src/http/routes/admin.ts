/** Operator routes: servers, secrets, leases, operators, keys and policy. Each checks one permission. */
import { z } from "@hono/zod-openapi";
import type { JWK } from "jose";
import { BrokerError } from "../../errors.js";
import { leaseToJson } from "../../leases/lease.js";
import { operatorToJson } from "../../operators/service.js";
import { parseDuration } from "../../policy/duration.js";
import { explain } from "../../policy/explain.js";
import { decodeBase64Strict, generateValue, secretMetadataToJson } from "../../secrets/admin.js";
import { parseSecretName } from "../../secrets/name.js";
import { serverToJson } from "../../servers/service.js";
import { readJson, validate } from "../body.js";
import { parseJsonOr400, rejectDotSegments } from "./secrets.js";
import type { AppDeps } from "../deps.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { operatorActor, pathParam, requestMeta } from "../request.js";
import { setHeader } from "../headers.js";
import { leaseCursor, nextCursor, operatorCursor, pageQuery, requestedPage, secretCursor, serverCursor } from "../pagination.js";
import { brokerApp, errors, json, jsonBody, operatorSecurity, route, type BrokerRoute } from "../openapi.js";
import {
  CredentialsRotated,
  Explanation,
  KeysRotated,
  LeaseList,
  LeasesRevoked,
  OperatorCreated,
  OperatorList,
  OperatorRead,
  PolicyReload,
  SecretDetail,
  SecretList,
  SecretWritten,
  Server,
  ServerList,
  ServerRegistered,
} from "../schemas.js";
import type { OperatorPermission } from "../../policy/types.js";
import type { Handler } from "hono";
import type { AppEnv } from "../context.js";

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
  .strict()
  .openapi("RegisterServer");

const rotateCredentials = z
  .object({
    public_jwk: jwk.optional(),
    mode: z.enum(["replace", "add"]).optional().describe("with public_jwk: replace (default) revokes every other credential of the server and its tokens; add keeps them"),
  })
  .strict()
  .openapi("RotateCredentials");

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
  .refine((body) => [body.value, body.value_base64, body.generate].filter((v) => v !== undefined).length === 1, "give exactly one of value, value_base64, generate")
  .openapi("WriteSecret");

const readSecret = z.object({ path: z.string().max(512), version: z.number().int().positive().optional() }).strict().openapi("OperatorReadRequest");

const revokeLeases = z
  .object({ lease_id: z.string().max(100).optional(), server: z.string().max(63).optional(), secret: z.string().max(512).optional() })
  .strict()
  .refine((body) => [body.lease_id, body.server, body.secret].filter((v) => v !== undefined).length === 1, "give exactly one of lease_id, server, secret")
  .openapi("RevokeLeases");

const createOperator = z
  .object({ name: z.string().max(128), role: z.string().max(64), ttl: z.string().max(32).optional().describe("the token's lifetime (30d, 12h; 1m to 366d); without it the token does not expire") })
  .strict()
  .openapi("CreateOperator");

const serverId = z.object({ id: z.string() });
const secretPath = z.object({ path: z.string().describe("the secret path, slashes included") });

export function adminRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  app.use("/v1/admin/secrets/*", rejectDotSegments);
  /** An operator route: documented, and checked for `permission` before `handler` runs. */
  const operatorRoute = (permission: OperatorPermission, definition: Omit<BrokerRoute, "security">, handler: Handler<AppEnv>) =>
    route(
      app,
      { ...definition, security: operatorSecurity, description: `Needs the ${permission} permission.${definition.description ? ` ${definition.description}` : ""}` },
      auth.requireOperator(permission),
      handler,
    );
  const refusals = errors(400, 401, 403, 404, 503);

  // servers ---------------------------------------------------------------------------------
  const servers = { tags: ["admin: servers"] };
  // Registering a server and managing its credentials is the power to read what it reads: its own permission.
  operatorRoute(
    "credentials",
    { method: "post", path: "/v1/admin/servers", summary: "Register a server", ...servers, request: { body: jsonBody(registerServer) }, responses: { 201: json(ServerRegistered, "registered; the client secret is shown once"), ...errors(400, 401, 403, 409, 413, 415, 503) } },
    async (c) => {
      const body = await readJson(c, registerServer);
      const { server, clientSecret } = await deps.servers.register(
        operatorActor(c),
        { id: body.id, ...(body.description !== undefined && { description: body.description }), ...(body.labels && { labels: body.labels }), ...(body.public_jwk && { publicJwk: body.public_jwk }), ...(body.no_secret !== undefined && { noSecret: body.no_secret }) },
        requestMeta(c),
      );
      setHeader(c, "cache-control", "no-store");
      return c.json({ client_id: server.id, client_secret: clientSecret, server: serverToJson(server) }, 201);
    },
  );
  operatorRoute(
    "servers",
    {
      method: "get",
      path: "/v1/admin/servers",
      summary: "List servers, by id, a page at a time",
      ...servers,
      request: { query: z.object(pageQuery) },
      responses: { 200: json(ServerList, "one page of servers"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
      const page = await deps.servers.list(requestedPage(c, serverCursor));
      return c.json({ servers: page.items.map(serverToJson), next_cursor: nextCursor(serverCursor, page) });
    },
  );
  operatorRoute(
    "servers",
    { method: "get", path: "/v1/admin/servers/{id}", summary: "One server", ...servers, request: { params: serverId }, responses: { 200: json(Server, "the server"), ...refusals } },
    async (c) => c.json(serverToJson(await deps.servers.get(pathParam(c, "id")))),
  );
  for (const [verb, disabled] of [["disable", true], ["enable", false]] as const) {
    operatorRoute(
      "servers",
      {
        method: "post",
        path: `/v1/admin/servers/{id}/${verb}`,
        summary: disabled ? "Disable a server: its leases are revoked and its tokens refused at once" : "Enable a disabled server",
        ...servers,
        request: { params: serverId },
        responses: { 200: json(Server, "the server"), ...refusals },
      },
      async (c) => c.json(serverToJson(await deps.servers.setDisabled(operatorActor(c), pathParam(c, "id"), disabled, requestMeta(c)))),
    );
  }
  operatorRoute(
    "credentials",
    {
      method: "post",
      path: "/v1/admin/servers/{id}/rotate-credentials",
      summary: "Replace a server's client secret, or given public_jwk replace every credential by that key (mode replace, default; its tokens are refused at once) or add the key (mode add)",
      ...servers,
      request: { params: serverId, body: jsonBody(rotateCredentials, false) },
      responses: { 200: json(CredentialsRotated, "the new client secret, shown once"), ...refusals },
    },
    async (c) => {
      const text = await c.req.text();
      const body = text.trim() === "" ? {} : validate(rotateCredentials, parseJsonOr400(text));
      const result = await deps.servers.rotateCredentials(operatorActor(c), pathParam(c, "id"), { ...(body.public_jwk && { publicJwk: body.public_jwk }), ...(body.mode && { mode: body.mode }) }, requestMeta(c));
      setHeader(c, "cache-control", "no-store");
      return c.json({ client_id: pathParam(c, "id"), client_secret: result.clientSecret });
    },
  );

  // secrets ---------------------------------------------------------------------------------
  const secrets = { tags: ["admin: secrets"] };
  operatorRoute(
    "write",
    {
      method: "post",
      path: "/v1/admin/secrets",
      summary: "Write a new version of a secret (value, value_base64 or generate)",
      ...secrets,
      request: { body: jsonBody(writeSecret) },
      responses: { 201: json(SecretWritten, "the version written"), ...errors(400, 401, 403, 413, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, writeSecret);
      const value =
        body.value !== undefined ? Buffer.from(body.value, "utf8") : body.value_base64 !== undefined ? decodeBase64Strict(body.value_base64, "value_base64") : Buffer.from(generateValue(body.generate!), "utf8");
      const options = {
        ...(body.description !== undefined && { description: body.description }),
        ...(body.owner !== undefined && { owner: body.owner }),
        ...(body.labels && { labels: body.labels }),
        ...(body.sensitivity && { sensitivity: body.sensitivity }),
      };
      const version = await deps.secretAdmin.put(operatorActor(c), body.path, value, options, requestMeta(c));
      return c.json({ path: body.path, version }, 201);
    },
  );
  operatorRoute(
    "write",
    {
      method: "get",
      path: "/v1/admin/secrets",
      summary: "List secrets' metadata (never values), by path, a page at a time",
      ...secrets,
      request: { query: z.object({ prefix: z.string().optional(), ...pageQuery }) },
      responses: { 200: json(SecretList, "one page of the metadata of each secret under the prefix"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
      const page = await deps.secretAdmin.list(c.req.query("prefix") ?? "", requestedPage(c, secretCursor));
      return c.json({ secrets: page.items.map(secretMetadataToJson), next_cursor: nextCursor(secretCursor, page) });
    },
  );
  operatorRoute(
    "read",
    {
      method: "post",
      path: "/v1/admin/secrets/read",
      summary: "An operator reads a value (audited as secret.get)",
      ...secrets,
      request: { body: jsonBody(readSecret) },
      responses: { 200: json(OperatorRead, "the value"), ...errors(400, 401, 403, 404, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, readSecret);
      setHeader(c, "cache-control", "no-store");
      return c.json(await deps.secretAdmin.get(operatorActor(c), body.path, body.version, requestMeta(c)));
    },
  );
  operatorRoute(
    "write",
    {
      method: "get",
      path: "/v1/admin/secrets/{path}",
      honoPath: "/v1/admin/secrets/:path{.+}",
      summary: "A secret's metadata and versions",
      ...secrets,
      request: { params: secretPath },
      responses: { 200: json(SecretDetail, "metadata and versions"), ...refusals },
    },
    async (c) => {
      const path = pathParam(c, "path");
      const [metadata, versions] = await Promise.all([deps.secretAdmin.metadata(path), deps.secretAdmin.versions(path)]);
      return c.json({
        ...secretMetadataToJson(metadata),
        versions: versions.map((v) => ({ version: v.version, created_at: new Date(v.createdAt).toISOString(), created_by: v.createdBy, destroyed: v.destroyed })),
      });
    },
  );
  operatorRoute(
    "delete",
    {
      method: "delete",
      path: "/v1/admin/secrets/{path}",
      honoPath: "/v1/admin/secrets/:path{.+}",
      summary: "Delete a secret; its leases are revoked at once",
      ...secrets,
      request: { params: secretPath },
      responses: { 204: { description: "deleted" }, ...refusals },
    },
    async (c) => {
      await deps.deleteSecret(operatorActor(c), pathParam(c, "path"), requestMeta(c));
      return c.body(null, 204);
    },
  );

  // leases ----------------------------------------------------------------------------------
  const leases = { tags: ["admin: leases"] };
  operatorRoute(
    "revoke",
    {
      method: "get",
      path: "/v1/admin/leases",
      summary: "List leases, oldest issued first, a page at a time",
      ...leases,
      request: {
        query: z.object({ server: z.string().optional(), secret: z.string().optional(), all: z.enum(["true", "false"]).optional().describe("true: ended leases too"), ...pageQuery }),
      },
      responses: { 200: json(LeaseList, "one page of matching leases"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
      const server = c.req.query("server");
      const secret = c.req.query("secret");
      const filter = { ...(server && { serverId: server }), ...(secret && { secretPath: parseSecretName(secret).name }), activeOnly: c.req.query("all") !== "true" };
      const page = await deps.leases.list(filter, requestedPage(c, leaseCursor));
      const now = deps.clock();
      return c.json({ leases: page.items.map((lease) => leaseToJson(lease, now)), next_cursor: nextCursor(leaseCursor, page) });
    },
  );
  operatorRoute(
    "revoke",
    {
      method: "post",
      path: "/v1/admin/leases/revoke",
      summary: "Revoke leases by id, by server or by secret",
      ...leases,
      request: { body: jsonBody(revokeLeases) },
      responses: { 200: json(LeasesRevoked, "the leases revoked"), ...errors(400, 401, 403, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, revokeLeases);
      const target = body.lease_id !== undefined ? { id: body.lease_id } : body.server !== undefined ? { serverId: body.server } : { secretPath: parseSecretName(body.secret).path };
      const actor = operatorActor(c);
      const revoked = await deps.leases.revoke(actor, target, requestMeta(c), `revoked by operator ${actor.id}`);
      return c.json({ revoked: revoked.length, lease_ids: revoked.map((lease) => lease.id) });
    },
  );
  operatorRoute(
    "revoke",
    {
      method: "delete",
      path: "/v1/admin/leases/{id}",
      summary: "Revoke one lease",
      ...leases,
      request: { params: z.object({ id: z.string() }) },
      responses: { 200: json(LeasesRevoked, "the lease revoked"), ...refusals },
    },
    async (c) => {
      const actor = operatorActor(c);
      const revoked = await deps.leases.revoke(actor, { id: pathParam(c, "id") }, requestMeta(c), `revoked by operator ${actor.id}`);
      // The revocation audited the attempt ("no active lease matched"): no second record for the 404.
      if (revoked.length === 0) throw new BrokerError("not_found", `no active lease ${pathParam(c, "id")}`, { audited: true });
      return c.json({ revoked: 1, lease_ids: [pathParam(c, "id")] });
    },
  );

  // operators -------------------------------------------------------------------------------
  const operators = { tags: ["admin: operators"] };
  operatorRoute(
    "operators",
    {
      method: "post",
      path: "/v1/admin/operators",
      summary: "Create an operator and its token",
      ...operators,
      request: { body: jsonBody(createOperator) },
      responses: { 201: json(OperatorCreated, "the operator; its token is shown once"), ...errors(400, 401, 403, 409, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, createOperator);
      const ttlSeconds = body.ttl === undefined ? undefined : parseDuration(body.ttl);
      const { operator, token } = await deps.operators.create(operatorActor(c), body.name, body.role, requestMeta(c), ttlSeconds);
      setHeader(c, "cache-control", "no-store");
      return c.json({ name: operator.name, role: operator.role, token, expires_at: operatorToJson(operator).expires_at }, 201);
    },
  );
  operatorRoute(
    "operators",
    {
      method: "get",
      path: "/v1/admin/operators",
      summary: "List operators, by name, a page at a time",
      ...operators,
      request: { query: z.object(pageQuery) },
      responses: { 200: json(OperatorList, "one page of operators"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
      const page = await deps.operators.list(requestedPage(c, operatorCursor));
      return c.json({ operators: page.items.map(operatorToJson), next_cursor: nextCursor(operatorCursor, page) });
    },
  );
  operatorRoute(
    "operators",
    {
      method: "delete",
      path: "/v1/admin/operators/{name}",
      summary: "Revoke an operator's token",
      ...operators,
      request: { params: z.object({ name: z.string() }) },
      responses: { 204: { description: "revoked" }, ...refusals },
    },
    async (c) => {
      await deps.operators.revoke(operatorActor(c), pathParam(c, "name"), requestMeta(c));
      return c.body(null, 204);
    },
  );

  // keys ------------------------------------------------------------------------------------
  operatorRoute(
    "keys",
    {
      method: "post",
      path: "/v1/admin/keys/rotate",
      summary: "Rotate the master key (re-wraps every data key) or the token signing key",
      tags: ["admin: keys"],
      request: { query: z.object({ target: z.enum(["master", "signing"]).optional().describe("default master") }) },
      responses: { 200: json(KeysRotated, "the new key"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
      const target = c.req.query("target") ?? "master";
      const actor = operatorActor(c);
      if (target === "signing") {
        const { kid } = await deps.rotateSigningKey(actor, requestMeta(c));
        return c.json({ target, kid });
      }
      if (target !== "master") throw new BrokerError("invalid_request", "target must be master or signing");
      const result = await deps.rotateMasterKey(actor, requestMeta(c));
      return c.json({ target, key_id: result.keyId, rewrapped: result.rewrapped });
    },
  );

  // policy ----------------------------------------------------------------------------------
  const policy = { tags: ["admin: policy"] };
  operatorRoute(
    "audit",
    {
      method: "get",
      path: "/v1/admin/policy/explain",
      summary: "Which rule decides a server's access to a secret, and why",
      ...policy,
      request: { query: z.object({ server: z.string(), secret: z.string(), action: z.enum(["read", "list"]).optional(), source_ip: z.string().optional() }) },
      responses: { 200: json(Explanation, "the decision and every rule considered"), ...errors(400, 401, 403) },
    },
    (c) => {
      const server = c.req.query("server");
      const secret = c.req.query("secret");
      const action = c.req.query("action") ?? "read";
      if (!server || !secret) throw new BrokerError("invalid_request", "server and secret are required");
      if (action !== "read" && action !== "list") throw new BrokerError("invalid_request", "action must be read or list");
      parseSecretName(secret);
      const sourceIp = c.req.query("source_ip");
      const result = explain(deps.policy.current(), { serverId: server, secretPath: secret, action, ...(sourceIp && { sourceIp }) });
      return c.json(result);
    },
  );
  operatorRoute(
    "policy",
    {
      method: "post",
      path: "/v1/admin/policy/reload",
      summary: "Reload the policy files; an invalid set keeps the last good one",
      ...policy,
      responses: { 200: json(PolicyReload, "reloaded"), 422: json(PolicyReload, "invalid; each problem as file:line:column: message"), ...errors(401, 403) },
    },
    (c) => {
      const outcome = deps.policy.reload();
      return c.json(outcome, outcome.ok ? 200 : 422);
    },
  );

  return app;
}
