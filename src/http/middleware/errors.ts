/**
 * The one place errors become responses. The broker's JSON API answers
 * `{"error": {"code", "message", "request_id", ...}}`; the token endpoint answers RFC 6749's
 * `{"error", "error_description"}`, its codes mapped here from the broker's. Internal errors show a
 * generic message; their detail goes to the log only. A refusal that no use case audited is
 * audited here (reject-audit.ts).
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BrokerError, toBrokerError, type ErrorCode } from "../../errors.js";
import type { AppEnv } from "../context.js";
import { auditRejection, type RejectAuditDeps } from "../reject-audit.js";
import { setHeader } from "../headers.js";

/** RFC 6749 section 5.2 error codes (plus `rate_limited` for 429 throttling). */
export type OAuthErrorCode = "invalid_request" | "invalid_client" | "unsupported_grant_type" | "rate_limited";

/** The broker codes the token endpoint answers in OAuth form; any other error keeps the broker's body. */
const OAUTH_ERRORS: Partial<Record<ErrorCode, OAuthErrorCode>> = {
  invalid_request: "invalid_request",
  invalid_json: "invalid_request",
  unsupported_media_type: "invalid_request",
  unauthorized: "invalid_client",
  rate_limited: "rate_limited",
};

/**
 * A refusal of the token route's own validation that RFC 6749 names more precisely than a broker
 * code can (`unsupported_grant_type`): a 400 `invalid_request` elsewhere.
 */
export function oauthValidationError(code: OAuthErrorCode, message: string): BrokerError {
  return new BrokerError("invalid_request", message, { data: { oauth_error: code } });
}

export function errorHandler(deps: RejectAuditDeps) {
  return async function handleError(error: Error, c: Context<AppEnv>) {
    const brokerError =
      error instanceof HTTPException
        ? new BrokerError(error.status === 413 ? "payload_too_large" : "invalid_request", error.status === 413 ? "request body too large" : error.message || "bad request", { status: error.status })
        : toBrokerError(error);
    const requestId = c.get("requestId") ?? "";
    logError(deps, brokerError, requestId);
    await auditRejection(deps, c, brokerError);
    if (brokerError.retryAfterSeconds !== undefined) setHeader(c, "retry-after", String(brokerError.retryAfterSeconds));
    return c.json(errorBody(brokerError, requestId), brokerError.status as ContentfulStatusCode);
  };
}

/**
 * The token endpoint's answer to `error`: RFC 6749 form for the codes it maps (audited as
 * `auth.token` unless already audited), the broker's error body (through `onError`) for the rest.
 */
export function oauthErrorHandler(deps: RejectAuditDeps) {
  const brokerHandler = errorHandler(deps);
  return async function handleOAuthError(error: Error, c: Context<AppEnv>) {
    const brokerError = toBrokerError(error);
    const oauthCode = (brokerError.data?.oauth_error as OAuthErrorCode | undefined) ?? OAUTH_ERRORS[brokerError.code];
    if (oauthCode === undefined) return brokerHandler(error, c);
    const requestId = c.get("requestId") ?? "";
    logError(deps, brokerError, requestId);
    await auditRejection(deps, c, brokerError, "auth.token");
    // RFC 6749 section 5.2: no token endpoint answer is cached (the route sets it too, but a
    // refusal of the rate limit in front of it never reaches the route).
    setHeader(c, "cache-control", "no-store");
    if (brokerError.retryAfterSeconds !== undefined) setHeader(c, "retry-after", String(brokerError.retryAfterSeconds));
    if (brokerError.status === 401) setHeader(c, "www-authenticate", 'Basic realm="credbroker"');
    return c.json({ error: oauthCode, error_description: brokerError.message, request_id: requestId }, brokerError.status as ContentfulStatusCode);
  };
}

function logError({ logger }: RejectAuditDeps, error: BrokerError, requestId: string): void {
  if (error.status >= 500) {
    logger.error({ request_id: requestId, code: error.code, detail: error.detail }, "request failed");
  } else if (error.detail) {
    logger.debug({ request_id: requestId, code: error.code, detail: error.detail }, "request rejected");
  }
}

/** Entries of a list of names an error holds (denied secrets, missing ones) before the rest are only counted. */
export const MAX_LISTED = 10;
/** Characters of an error message before it is cut. */
export const MAX_MESSAGE = 1000;
const LISTS = ["denied", "missing"] as const;

/**
 * The broker's error body, bounded whatever the error holds: a message is cut at
 * {@link MAX_MESSAGE} characters, and each list of caller-chosen names (`denied`, `missing`) keeps its first
 * {@link MAX_LISTED} entries, with `<list>_omitted` counting the rest. A batch of 100 denied
 * names of 500 characters each answers a few kilobytes, not 170 (every one of them is audited).
 */
export function errorBody(error: BrokerError, requestId: string) {
  const { oauth_error: _omit, ...data } = error.data ?? {};
  for (const list of LISTS) {
    const entries = data[list];
    if (Array.isArray(entries) && entries.length > MAX_LISTED) {
      data[list] = entries.slice(0, MAX_LISTED);
      data[`${list}_omitted`] = entries.length - MAX_LISTED;
    }
  }
  const message = error.message.length > MAX_MESSAGE ? `${error.message.slice(0, MAX_MESSAGE)}… (cut)` : error.message;
  return { error: { code: error.code, message, request_id: requestId, ...data } };
}
