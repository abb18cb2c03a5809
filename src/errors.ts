/**
 * The one error type of the broker. Every failure a caller can see is a BrokerError with a
 * stable `code` from a closed union, an HTTP `status`, a public `message` (never a secret value,
 * only identifiers) and optional private `detail` that goes to the log, never to the client.
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "payload_too_large"
  | "unsupported_media_type"
  | "invalid_path"
  | "unauthorized"
  | "invalid_token"
  | "forbidden"
  | "denied"
  | "not_found"
  | "conflict"
  | "lease_expired"
  | "lease_revoked"
  | "not_renewable"
  | "rate_limited"
  | "too_many_streams"
  | "audit_unavailable"
  | "audit_tampered"
  | "backend_unavailable"
  | "rotation_failed"
  | "storage_unavailable"
  | "not_initialised"
  | "internal";

const defaultStatus: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_json: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_path: 400,
  unauthorized: 401,
  invalid_token: 401,
  forbidden: 403,
  denied: 403,
  not_found: 404,
  conflict: 409,
  lease_expired: 410,
  lease_revoked: 410,
  not_renewable: 409,
  rate_limited: 429,
  too_many_streams: 429,
  audit_unavailable: 503,
  audit_tampered: 503,
  backend_unavailable: 503,
  // The target system answered and refused a rotation step (a bad gateway, not the caller's fault).
  rotation_failed: 502,
  storage_unavailable: 503,
  not_initialised: 503,
  internal: 500,
};

export interface BrokerErrorOptions {
  /** Internal detail for the log; never sent to the client. */
  detail?: string;
  /** Extra public, structured fields (e.g. the list of denied secrets). */
  data?: Record<string, unknown>;
  status?: number;
  cause?: unknown;
  /** Seconds a client should wait before retrying (429, 503). */
  retryAfterSeconds?: number;
  /**
   * Set by the code that wrote this refusal's audit record (with its deciding rule), so the HTTP
   * edge, which records every other refusal, does not record it twice.
   */
  audited?: boolean;
}

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly data: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly audited: boolean;

  constructor(code: ErrorCode, message: string, options: BrokerErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "BrokerError";
    this.code = code;
    this.status = options.status ?? defaultStatus[code];
    this.detail = options.detail;
    this.data = options.data;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.audited = options.audited ?? false;
  }

  /** The same error, marked as audited: for code that recorded a refusal it did not raise itself. */
  asAudited(): BrokerError {
    if (this.audited) return this;
    return new BrokerError(this.code, this.message, {
      status: this.status,
      cause: this.cause,
      audited: true,
      ...(this.detail !== undefined && { detail: this.detail }),
      ...(this.data !== undefined && { data: this.data }),
      ...(this.retryAfterSeconds !== undefined && { retryAfterSeconds: this.retryAfterSeconds }),
    });
  }
}

export function isBrokerError(error: unknown): error is BrokerError {
  return error instanceof BrokerError;
}

/** Turns anything thrown into a BrokerError; unknown errors become an opaque `internal` error. */
export function toBrokerError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new BrokerError("internal", "internal error", { detail, cause: error });
}
