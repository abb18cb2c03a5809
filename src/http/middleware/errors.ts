/**
 * The one place errors become responses: `{"error": {"code", "message", "request_id", ...}}`.
 * Internal errors show a generic message; their detail goes to the log only.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BrokerError, toBrokerError } from "../../errors.js";
import type { AppEnv } from "../context.js";
import { auditRejection, type RejectAuditDeps } from "../reject-audit.js";
import { setHeader } from "../headers.js";

export function errorHandler(deps: RejectAuditDeps) {
  const { logger } = deps;
  return async function handleError(error: Error, c: Context<AppEnv>) {
    const brokerError =
      error instanceof HTTPException
        ? new BrokerError(error.status === 413 ? "payload_too_large" : "invalid_request", error.status === 413 ? "request body too large" : error.message || "bad request", { status: error.status })
        : toBrokerError(error);
    const requestId = c.get("requestId") ?? "";
    if (brokerError.status >= 500) {
      logger.error({ request_id: requestId, code: brokerError.code, detail: brokerError.detail }, "request failed");
    } else if (brokerError.detail) {
      logger.debug({ request_id: requestId, code: brokerError.code, detail: brokerError.detail }, "request rejected");
    }
    await auditRejection(deps, c, brokerError);
    if (brokerError.retryAfterSeconds !== undefined) setHeader(c, "retry-after", String(brokerError.retryAfterSeconds));
    return c.json(errorBody(brokerError, requestId), brokerError.status as ContentfulStatusCode);
  };
}

export function errorBody(error: BrokerError, requestId: string) {
  const { oauth_error: _omit, ...data } = error.data ?? {};
  return { error: { code: error.code, message: error.message, request_id: requestId, ...data } };
}
