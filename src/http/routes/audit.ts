/** Auditor routes: filtered queries, "who accessed this secret", chain verification, export. */
import { z } from "@hono/zod-openapi";
import { stream } from "hono/streaming";
import { auditRecordToJson } from "../../audit/record.js";
import { toCsvRow, AUDIT_CSV_COLUMNS } from "../../audit/csv.js";
import { BrokerError } from "../../errors.js";
import { parseSecretName } from "../../secrets/name.js";
import { queryInt } from "../body.js";
import type { AppDeps } from "../deps.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { parseTimeBound } from "../../audit/time.js";
import { brokerApp, errors, json, jsonBody, operatorSecurity, route } from "../openapi.js";
import { AccessReport, AuditArchived, AuditArchiveRequest, AuditPage, AuditVerification, AuditVerifyRequest, CheckpointKey } from "../schemas.js";
import { readJson } from "../body.js";
import { operatorActor, requestMeta } from "../request.js";
import { ADMIN_ROLE } from "../../policy/types.js";

const filterQuery = {
  server: z.string().optional().describe("the actor (server id or operator name); `actor` is the same"),
  actor: z.string().optional(),
  secret: z.string().optional(),
  prefix: z.string().optional().describe("resources starting with this"),
  action: z.string().optional().describe("e.g. secret.read; * matches any run of characters"),
  outcome: z.enum(["allowed", "denied", "error"]).optional(),
  since: z.string().optional().describe("ISO time or a duration back from now (90d, 12h)"),
  until: z.string().optional(),
};

export function auditRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  app.use("/v1/audit/*", auth.requireOperator("audit"));

  const filterFrom = (query: (name: string) => string | undefined) => {
    const now = deps.clock();
    const secret = query("secret");
    const prefix = query("prefix");
    const outcome = query("outcome");
    if (outcome !== undefined && !["allowed", "denied", "error"].includes(outcome)) throw new BrokerError("invalid_request", "outcome must be allowed, denied or error");
    const action = query("action");
    if (action !== undefined && !/^[a-z_.*]{1,64}$/.test(action)) throw new BrokerError("invalid_request", "invalid action");
    const actor = query("server") ?? query("actor");
    const since = parseTimeBound(query("since"), now, "since");
    const until = parseTimeBound(query("until"), now, "until");
    return {
      ...(actor !== undefined && { actor }),
      ...(secret !== undefined && { resource: parseSecretName(secret).name }),
      ...(prefix !== undefined && { resourcePrefix: prefix }),
      ...(action !== undefined && { action }),
      ...(outcome !== undefined && { outcome }),
      ...(since !== undefined && { since }),
      ...(until !== undefined && { until }),
    };
  };

  const audit = { tags: ["audit"], security: operatorSecurity };
  route(
    app,
    {
      method: "get",
      path: "/v1/audit/events",
      summary: "Audit records, filtered, in seq order (oldest or newest first), cursor-paginated",
      ...audit,
      request: {
        query: z.object({
          ...filterQuery,
          order: z.enum(["asc", "desc"]).optional().describe("asc (default): oldest first; desc: newest first"),
          cursor: z.string().optional().describe("next_cursor of the previous page; continues in the same order"),
          limit: z.string().optional().describe("1..1000, default 100"),
        }),
      },
      responses: { 200: json(AuditPage, "one page of records"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
    const cursor = queryInt(c.req.query("cursor"), "cursor", 0, Number.MAX_SAFE_INTEGER);
    const limit = queryInt(c.req.query("limit"), "limit", 1, 1000);
    const order = c.req.query("order");
    if (order !== undefined && order !== "asc" && order !== "desc") throw new BrokerError("invalid_request", "order must be asc or desc");
    const { events, nextCursor } = await deps.auditQueries.page({
      ...filterFrom((name) => c.req.query(name)),
      ...(order !== undefined && { order }),
      ...(cursor !== undefined && { cursor }),
      ...(limit !== undefined && { limit }),
    });
    return c.json({ events: events.map(auditRecordToJson), next_cursor: nextCursor });
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/audit/access-report",
      summary: "Who accessed a secret: per server, count, first, last, outcomes",
      ...audit,
      request: { query: z.object({ secret: z.string(), since: z.string().optional() }) },
      responses: { 200: json(AccessReport, "one row per server or operator"), ...errors(400, 401, 403, 503) },
    },
    async (c) => {
    const secret = c.req.query("secret");
    if (!secret) throw new BrokerError("invalid_request", "secret is required");
    const since = parseTimeBound(c.req.query("since"), deps.clock(), "since");
    const report = await deps.auditQueries.accessReport(parseSecretName(secret).name, since);
    return c.json({ secret, since: since === undefined ? null : new Date(since).toISOString(), servers: report });
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/audit/verify",
      summary: "Verify the keyed audit chain against the broker's own checkpoint files",
      ...audit,
      responses: { 200: json(AuditVerification, "the result; ok false names each problem"), ...errors(401, 403, 503) },
    },
    async (c) => {
      const result = await deps.auditQueries.verify();
      return c.json(result);
    },
  );

  route(
    app,
    {
      method: "post",
      path: "/v1/audit/verify",
      summary: "Verify the keyed audit chain against the signed checkpoints given (e.g. from a webhook receiver or a copied file)",
      ...audit,
      request: { body: jsonBody(AuditVerifyRequest) },
      responses: { 200: json(AuditVerification, "the result; ok false names each problem"), ...errors(400, 401, 403, 413, 415, 503) },
    },
    async (c) => {
      const body = await readJson(c, AuditVerifyRequest);
      return c.json(await deps.auditQueries.verify(body.checkpoints));
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/audit/checkpoint-key",
      summary: "The public key audit checkpoints and archive segments are signed with",
      ...audit,
      responses: { 200: json(CheckpointKey, "key id and PEM"), ...errors(401, 403) },
    },
    (c) => c.json({ key_id: deps.checkpointKey.keyId, public_key_pem: deps.checkpointKey.publicKeyPem }),
  );

  // Archiving removes records: the audit permission to read them, and the admin role to remove them.
  const requireAdmin = (c: Parameters<typeof operatorActor>[0]) => {
    const principal = c.get("principal");
    if (principal?.kind !== "operator" || principal.role !== ADMIN_ROLE) throw new BrokerError("forbidden", "archiving audit records needs the admin role");
  };
  route(
    app,
    {
      method: "get",
      path: "/v1/audit/archive",
      summary: "Export the records before a time as a signed segment (JSON lines, trailer last); removes nothing",
      ...audit,
      request: { query: z.object({ before: z.string().describe("ISO time or a duration back from now (90d)") }) },
      responses: {
        200: { description: "record lines, then the signed trailer line", content: { "application/x-ndjson": { schema: { type: "string" } } } },
        ...errors(400, 401, 403, 404, 503),
      },
    },
    async (c) => {
      requireAdmin(c);
      const before = parseTimeBound(c.req.query("before"), deps.clock(), "before");
      if (before === undefined) throw new BrokerError("invalid_request", "before is required");
      const segment = await deps.auditArchive.exportSegment(before);
      c.header("content-type", "application/x-ndjson");
      return c.body(`${[...segment.lines, JSON.stringify(segment.trailer)].join("\n")}\n`);
    },
  );

  route(
    app,
    {
      method: "post",
      path: "/v1/audit/archive",
      summary: "Remove an exported segment's records; the kept chain is anchored on its last record",
      ...audit,
      request: { body: jsonBody(AuditArchiveRequest) },
      responses: { 200: json(AuditArchived, "how many records were removed, and the anchor"), ...errors(400, 401, 403, 409, 413, 415, 503) },
    },
    async (c) => {
      requireAdmin(c);
      const body = await readJson(c, AuditArchiveRequest);
      return c.json(await deps.auditArchive.removeSegment(operatorActor(c), requestMeta(c), body.through_seq, body.records_sha256));
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/audit/export",
      summary: "Every matching record, streamed",
      ...audit,
      request: { query: z.object({ ...filterQuery, format: z.enum(["jsonl", "csv"]).optional() }) },
      responses: {
        200: {
          description: "JSON lines (one AuditEvent each) or CSV with a header row",
          content: { "application/x-ndjson": { schema: { type: "string" } }, "text/csv": { schema: { type: "string" } } },
        },
        ...errors(400, 401, 403, 503),
      },
    },
    (c) => {
    const format = c.req.query("format") ?? "jsonl";
    if (format !== "jsonl" && format !== "csv") throw new BrokerError("invalid_request", "format must be jsonl or csv");
    const filter = filterFrom((name) => c.req.query(name));
    c.header("content-type", format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson");
    return stream(c, async (out) => {
      if (format === "csv") await out.write(`${AUDIT_CSV_COLUMNS.join(",")}\n`);
      for await (const page of deps.auditQueries.all(filter)) {
        const lines = page.map((record) => (format === "csv" ? toCsvRow(auditRecordToJson(record)) : JSON.stringify(auditRecordToJson(record))));
        await out.write(`${lines.join("\n")}\n`);
      }
    });
    },
  );

  return app;
}
