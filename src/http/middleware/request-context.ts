/**
 * First middleware of every request: assigns the request id and resolves the client address; on
 * the way out it sets the standard headers, then leaves the one log line and the request metrics
 * for after the answer is written (after-answers.ts).
 * Labels use the route template, never the raw path (which may hold a secret name chosen by a
 * caller).
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { getConnInfo } from "@hono/node-server/conninfo";
import { randomUUID } from "node:crypto";
import type { Logger } from "../../logger.js";
import type { Metrics } from "../../metrics.js";
import type { AppEnv } from "../context.js";
import { AfterAnswers } from "../after-answers.js";
import { setStandardHeaders } from "../headers.js";

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface RequestContextOptions {
  logger: Logger;
  metrics: Pick<Metrics, "httpRequests" | "httpLatency">;
  trustProxy?: boolean;
}

export function requestContext({ logger, metrics, trustProxy = false }: RequestContextOptions): MiddlewareHandler<AppEnv> {
  // The request line holds only fields built here (ids, route template, status, address, server
  // or operator name), none of which can hold a credential; pino's wildcard redaction of it cost
  // two thirds of the line's price (about 14 µs per request). Every other log line keeps it.
  const accessLog = logger.child({}, { redact: [] });
  const afterAnswers = new AfterAnswers((error) => logger.error({ err: error }, "request bookkeeping failed"));
  return async function requestContextMiddleware(c, next) {
    const started = process.hrtime.bigint();
    // Our own id, always: a client-chosen id in the audit trail could impersonate another request.
    // The client's id, when well-formed, is kept in the log line for correlation.
    const incoming = c.req.header("x-request-id");
    const clientRequestId = incoming && CLIENT_REQUEST_ID.test(incoming) ? incoming : undefined;
    const requestId = randomUUID();
    const sourceIp = clientAddress(c, trustProxy);
    c.set("requestId", requestId);
    c.set("sourceIp", sourceIp);
    c.set("meta", { requestId, sourceIp });
    try {
      await next();
    } finally {
      // On the way out, so a route can answer with all its headers in one object (http/headers.ts).
      // No Referrer-Policy: it governs the links of a document a browser shows, and these are JSON
      // answers; each header costs every response (~3% of a read's throughput, docs/benchmarks.md).
      setStandardHeaders(c, requestId);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = c.res.status;
      const method = c.req.method;
      const principal = c.get("principal");
      // After the answer is written (after-answers.ts): a read's answer leaves without waiting for them.
      afterAnswers.defer(() => {
        let route = routePath(c, -1);
        if (route === "*" || route === "/*") route = "unmatched";
        const outcome = status >= 500 ? "server_error" : status >= 400 ? "client_error" : "ok";
        metrics.httpRequests.inc({ route, method, status: String(status) });
        metrics.httpLatency.observe({ route, method, outcome }, seconds);
        if (accessLog.isLevelEnabled("info")) accessLog.info(
          {
            request_id: requestId,
            ...(clientRequestId && { client_request_id: clientRequestId }),
            method,
            route,
            status,
            latency_ms: Math.round(seconds * 1e6) / 1e3,
            source_ip: sourceIp,
            ...(principal && (principal.kind === "server" ? { server: principal.serverId } : { operator: principal.name })),
          },
          "request",
        );
      });
    }
  };
}

function clientAddress(c: Parameters<MiddlewareHandler<AppEnv>>[0], trustProxy: boolean): string | null {
  if (trustProxy) {
    // The last entry is the one our proxy appended; earlier entries are whatever the client sent.
    const forwarded = c.req.header("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}
