/**
 * How AWS SDK failures become broker errors. Modelled service errors carry the exception type in
 * `name` and the HTTP status in `$metadata`; network failures carry no status (the SDK names a
 * reset connection "TimeoutError" and sets `code`). AWS's messages go to the private detail only.
 */
import { BrokerError } from "../../errors.js";
import { DeadlineExceeded, reasonOf, unavailable, type ClassifiedError, type ErrorClassifier } from "../guard.js";

interface AwsFailure {
  name: string;
  status: number | undefined;
  code: string | undefined;
  message: string;
}

export function awsFailure(error: unknown): AwsFailure {
  const shape = (typeof error === "object" && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  return {
    name: typeof shape.name === "string" ? shape.name : "Error",
    status: typeof shape.$metadata?.httpStatusCode === "number" ? shape.$metadata.httpStatusCode : undefined,
    code: typeof shape.code === "string" ? shape.code : undefined,
    message: typeof shape.message === "string" ? shape.message : "",
  };
}

/** Exceptions meaning the broker's AWS identity was refused: bad, expired or unauthorised credentials. */
const REFUSED = new Set([
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignature",
  "IncompleteSignatureException",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "ExpiredToken",
  "SignatureDoesNotMatch",
  "CredentialsProviderError",
  // KMS refused to decrypt the value for the broker's identity.
  "DecryptionFailure",
]);

const THROTTLED = new Set(["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"]);

export const classifyAwsError: ErrorClassifier = (error, { mount, operation, location }): ClassifiedError => {
  if (error instanceof BrokerError) return { error, reason: reasonOf(error) };
  const what = location === undefined ? operation : `${operation} of ${location}`;
  if (error instanceof DeadlineExceeded) {
    return { error: unavailable(mount, `no answer within ${error.timeoutMs} ms`, { detail: `aws ${what}` }), reason: "timeout" };
  }
  const failure = awsFailure(error);
  const name = failure.name.replace(/^.*#/, "");
  const detail = `aws ${what}: ${name} ${failure.status ?? failure.code ?? "no response"} ${failure.message}`.trim();
  if (REFUSED.has(name)) {
    const refusedWhat = name === "AccessDeniedException" || name === "DecryptionFailure" ? `access to ${location ?? operation}` : "its credentials";
    return {
      error: new BrokerError("forbidden", `backend ${mount} refused the broker ${refusedWhat} (AWS: ${name})`, { detail, data: { backend: mount } }),
      reason: "forbidden",
    };
  }
  if (failure.status === undefined) {
    if (name === "TimeoutError" && failure.code !== "ECONNRESET") {
      return { error: unavailable(mount, "AWS did not answer in time", { detail, cause: error }), reason: "timeout" };
    }
    return { error: unavailable(mount, `cannot reach AWS${failure.code ? `: ${failure.code}` : ""}`, { detail, cause: error }), reason: "unavailable" };
  }
  if (name === "ResourceNotFoundException") {
    return { error: new BrokerError("not_found", `${location ?? operation} not found on backend ${mount}`, { detail }), reason: "not_found" };
  }
  if (THROTTLED.has(name)) return { error: unavailable(mount, "AWS is throttling the broker", { detail }), reason: "unavailable" };
  if (failure.status >= 500) return { error: unavailable(mount, `AWS answered ${failure.status}`, { detail }), reason: "unavailable" };
  if (name === "ResourceExistsException") {
    return { error: new BrokerError("conflict", `backend ${mount} already holds a different value for this request`, { detail }), reason: "invalid" };
  }
  return {
    error: new BrokerError("invalid_request", `backend ${mount} rejected the ${operation} request (AWS: ${name})`, { detail }),
    reason: "invalid",
  };
};
