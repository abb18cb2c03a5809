/**
 * How node-vault failures become broker errors. node-vault rejects with `response.statusCode` and
 * `response.body.errors` for an HTTP answer, and with an axios error carrying `code` (ECONNREFUSED,
 * ECONNRESET, ECONNABORTED on timeout...) when there was none. Vault's own messages go to the
 * private detail only: public messages name the mount and location, never anything Vault said.
 */
import { BrokerError } from "../../errors.js";
import { DeadlineExceeded, reasonOf, unavailable, type ClassifiedError, type ErrorClassifier } from "../guard.js";

interface VaultFailure {
  status: number | undefined;
  errors: string[];
  code: string | undefined;
}

/** The parts of a node-vault rejection this module relies on. */
export function vaultFailure(error: unknown): VaultFailure {
  const shape = (typeof error === "object" && error !== null ? error : {}) as {
    response?: { statusCode?: unknown; body?: { errors?: unknown } };
    code?: unknown;
  };
  const status = typeof shape.response?.statusCode === "number" ? shape.response.statusCode : undefined;
  const rawErrors = shape.response?.body?.errors;
  const errors = Array.isArray(rawErrors) ? rawErrors.filter((entry): entry is string => typeof entry === "string") : [];
  return { status, errors, code: typeof shape.code === "string" ? shape.code : undefined };
}

export function vaultStatus(error: unknown): number | undefined {
  return vaultFailure(error).status;
}

const TIMEOUT_CODES = new Set(["ECONNABORTED", "ETIMEDOUT", "ESOCKETTIMEDOUT"]);

export const classifyVaultError: ErrorClassifier = (error, { mount, operation, location }): ClassifiedError => {
  if (error instanceof BrokerError) return { error, reason: reasonOf(error) };
  const what = location === undefined ? operation : `${operation} of ${location}`;
  if (error instanceof DeadlineExceeded) {
    return { error: unavailable(mount, `no answer within ${error.timeoutMs} ms`, { detail: `vault ${what}` }), reason: "timeout" };
  }
  const failure = vaultFailure(error);
  const detail = `vault ${what}: ${failure.status ?? failure.code ?? "no response"} ${failure.errors.join("; ")}`.trim();
  if (failure.status === undefined) {
    if (failure.code && TIMEOUT_CODES.has(failure.code)) {
      return { error: unavailable(mount, "Vault did not answer in time", { detail, cause: error }), reason: "timeout" };
    }
    return { error: unavailable(mount, `cannot reach Vault${failure.code ? `: ${failure.code}` : ""}`, { detail, cause: error }), reason: "unavailable" };
  }
  if (failure.status === 403) {
    return {
      error: new BrokerError("forbidden", `backend ${mount} refused the broker access to ${location ?? operation} (Vault: permission denied)`, {
        detail,
        data: { backend: mount },
      }),
      reason: "forbidden",
    };
  }
  if (failure.status === 404) {
    return { error: new BrokerError("not_found", `${location ?? operation} not found on backend ${mount}`, { detail }), reason: "not_found" };
  }
  if (failure.status === 503 && failure.errors.some((message) => /sealed/i.test(message))) {
    return { error: unavailable(mount, "Vault is sealed", { detail }), reason: "unavailable" };
  }
  if (failure.status >= 500 || failure.status === 429 || failure.status === 412) {
    return { error: unavailable(mount, `Vault answered ${failure.status}`, { detail }), reason: "unavailable" };
  }
  return {
    error: new BrokerError("invalid_request", `backend ${mount} rejected the ${operation} request (Vault answered ${failure.status})`, { detail }),
    reason: "invalid",
  };
};
