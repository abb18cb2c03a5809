/**
 * Errors of the client SDK. Every error has a stable `code` from a closed union that callers can
 * switch on; messages name environment names, secret paths and lease ids, never a value.
 * Programmer misuse (a wrong option type, a call after close) throws `TypeError` instead.
 */
export type BrokerClientErrorCode =
  /** Options or environment incomplete or contradictory (e.g. no credential). */
  | "invalid_configuration"
  /** The broker refused the client's credentials (RFC 6749 `invalid_client` and friends). */
  | "invalid_client"
  /** A policy does not allow one or more of the requested secrets ({@link SecretAccessError}). */
  | "denied"
  /** One or more requested secrets do not exist ({@link SecretAccessError}). */
  | "not_found"
  /** A value's lease ran out before it could be renewed or fetched again. */
  | "lease_expired"
  /** A value's lease was revoked and it could not be fetched again. */
  | "lease_revoked"
  /** The server identity was disabled by an operator. */
  | "server_disabled"
  /** The broker asked the client to slow down (HTTP 429). */
  | "rate_limited"
  /** The broker could not be reached, timed out or failed (network error, 5xx) after retries. */
  | "unavailable"
  /** Any other refusal by the broker (a 4xx); the message is the broker's. */
  | "request_failed"
  /** The broker answered something this client does not understand. */
  | "bad_response"
  /** The client or the set was closed. */
  | "closed";

export interface BrokerClientErrorOptions {
  status?: number;
  /** The broker's own error code, e.g. `backend_unavailable`. */
  brokerCode?: string;
  requestId?: string;
  /** Environment names the error concerns (for errors about loaded values). */
  names?: string[];
  cause?: unknown;
}

export class BrokerClientError extends Error {
  readonly code: BrokerClientErrorCode;
  readonly status: number | undefined;
  readonly brokerCode: string | undefined;
  readonly requestId: string | undefined;
  readonly names: string[];

  constructor(code: BrokerClientErrorCode, message: string, options: BrokerClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BrokerClientError";
    this.code = code;
    this.status = options.status;
    this.brokerCode = options.brokerCode;
    this.requestId = options.requestId;
    this.names = options.names ?? [];
  }
}

/** One secret a policy refused, as the broker explains it. */
export interface DeniedSecret {
  /** The environment name the caller asked for (the key of the `load()` mapping). */
  name: string;
  /** The secret path, e.g. `github/token`. */
  secret: string;
  /** The broker's reason code, e.g. `no_matching_rule`, `explicit_deny`. */
  reason: string;
  /** The broker's explanation (which rule decided, or the absence of one). */
  message: string;
}

export interface MissingSecret {
  name: string;
  secret: string;
}

/**
 * A load or refresh was refused for some secrets: `denied` lists each refused one with the
 * broker's reason, `missing` each that does not exist. The message names every one, so a process
 * can print it and exit 1.
 */
export class SecretAccessError extends BrokerClientError {
  readonly denied: DeniedSecret[];
  readonly missing: MissingSecret[];

  constructor(code: "denied" | "not_found", denied: DeniedSecret[], missing: MissingSecret[], options: BrokerClientErrorOptions = {}) {
    super(code, secretAccessMessage(denied, missing), { ...options, names: [...denied.map((d) => d.name), ...missing.map((m) => m.name)] });
    this.name = "SecretAccessError";
    this.denied = denied;
    this.missing = missing;
  }
}

function secretAccessMessage(denied: DeniedSecret[], missing: MissingSecret[]): string {
  const parts: string[] = [];
  if (denied.length > 0) {
    parts.push(`access denied to ${denied.map((d) => `${d.name} (${d.secret}): ${d.message || d.reason || "denied"}`).join("; ")}`);
  }
  if (missing.length > 0) parts.push(`secret not found: ${missing.map((m) => `${m.name} (${m.secret})`).join(", ")}`);
  return parts.join("; ") || "access denied";
}

export function isBrokerClientError(error: unknown): error is BrokerClientError {
  return error instanceof BrokerClientError;
}
