/**
 * The SDK's HTTP layer: JSON over fetch with a timeout on every attempt, retries with backoff and
 * jitter on network errors and 5xx, and on a 429 whose Retry-After is short (never on other 4xx),
 * and failover across several broker URLs.
 */
import { backoffDelay, sleep, type RetryPolicy } from "./backoff.js";
import { BrokerClientError } from "./errors.js";

export interface HttpRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** A JSON body, or a function that builds the body for the broker URL being tried (client assertions bind to it). */
  body?: unknown | ((baseUrl: string) => Promise<{ contentType: string; text: string }>);
  headers?: Record<string, string>;
  /** Overrides the client's retry policy for this call. */
  retry?: RetryPolicy;
  /** Aborts the call and any wait between attempts. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** The parsed JSON body; undefined for an empty body. */
  body: unknown;
  headers: Headers;
  baseUrl: string;
}

export interface BrokerHttpOptions {
  urls: string[];
  timeoutMs: number;
  retry: RetryPolicy;
  userAgent: string;
}

export class BrokerHttp {
  private preferred = 0;
  readonly urls: string[];

  constructor(private readonly options: BrokerHttpOptions) {
    this.urls = options.urls.map((url) => url.replace(/\/+$/, ""));
  }

  /** The broker URL that answered last (the first one to try next). */
  get baseUrl(): string {
    return this.urls[this.preferred]!;
  }

  /** Moves on to the next URL after `baseUrl` failed. */
  failed(baseUrl: string): void {
    const index = this.urls.indexOf(baseUrl);
    if (index === this.preferred && this.urls.length > 1) this.preferred = (index + 1) % this.urls.length;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  /**
   * Sends the request; resolves with any response the broker gave (4xx included, and a 5xx once
   * retries are exhausted). Throws `unavailable` when no attempt reached a broker, `closed` when
   * `signal` aborted.
   */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const policy = request.retry ?? this.options.retry;
    const started = Date.now();
    const failures: string[] = [];
    for (let attempt = 0; ; attempt += 1) {
      const baseUrl = this.baseUrl;
      let outcome: HttpResponse | Error;
      try {
        outcome = await this.attempt(baseUrl, request);
      } catch (error) {
        if (request.signal?.aborted) throw new BrokerClientError("closed", "the request was cancelled", { cause: error });
        // Our own failures (an unreadable key, a body that is not JSON) are not worth another attempt.
        if (error instanceof BrokerClientError) throw error;
        outcome = error instanceof Error ? error : new Error(String(error));
      }
      // A 429 that says when to come back (and soon) is worth waiting for; a lockout is not.
      const retryAfterMs = outcome instanceof Error ? undefined : retryAfterOf(outcome);
      const throttled = retryAfterMs !== undefined && retryAfterMs <= MAX_RETRY_AFTER_MS;
      const retryable = outcome instanceof Error || outcome.status >= 500 || throttled;
      if (!retryable) return outcome as HttpResponse;
      if (!throttled) this.failed(baseUrl);
      failures.push(outcome instanceof Error ? `${baseUrl}: ${describeNetworkError(outcome)}` : `${baseUrl}: HTTP ${outcome.status}`);
      const delay = Math.max(backoffDelay(attempt, policy), throttled ? retryAfterMs : 0);
      const outOfTime = policy.maxElapsedMs !== undefined && Date.now() - started + delay > policy.maxElapsedMs;
      if (attempt + 1 >= policy.attempts || outOfTime) {
        if (!(outcome instanceof Error)) return outcome;
        throw new BrokerClientError("unavailable", `cannot reach the broker (${failures.slice(-3).join("; ")})`, { cause: outcome });
      }
      try {
        await sleep(delay, request.signal);
      } catch (error) {
        throw new BrokerClientError("closed", "the request was cancelled", { cause: error });
      }
    }
  }

  private async attempt(baseUrl: string, request: HttpRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: "application/json", "user-agent": this.options.userAgent, ...request.headers };
    let body: string | undefined;
    if (typeof request.body === "function") {
      const built = await (request.body as (url: string) => Promise<{ contentType: string; text: string }>)(baseUrl);
      headers["content-type"] = built.contentType;
      body = built.text;
    } else if (request.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(request.body);
    }
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const response = await fetch(`${baseUrl}${request.path}`, { method: request.method, headers, signal, ...(body !== undefined && { body }) });
    const text = await response.text();
    let parsed: unknown;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        if (response.status >= 500) return { status: response.status, body: undefined, headers: response.headers, baseUrl };
        throw new BrokerClientError("bad_response", `the broker at ${baseUrl} answered ${response.status} with a body that is not JSON`, { status: response.status });
      }
    }
    return { status: response.status, body: parsed, headers: response.headers, baseUrl };
  }
}

/** Longest `Retry-After` the client waits out by itself; longer (a lockout) is reported instead. */
const MAX_RETRY_AFTER_MS = 10_000;

/** `Retry-After` of a 429 in milliseconds (seconds form only, as the broker sends it). */
function retryAfterOf(response: HttpResponse): number | undefined {
  if (response.status !== 429) return undefined;
  const header = response.headers.get("retry-after");
  return header && /^\d{1,6}$/.test(header) ? Number(header) * 1000 : undefined;
}

/** The most useful words of a fetch failure: undici hides the system error in `cause`. */
export function describeNetworkError(error: Error): string {
  if (error.name === "TimeoutError") return "timed out";
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" ? `${code} ${cause.message}`.trim() : cause.message;
  }
  return error.message;
}

interface BrokerErrorBody {
  error?: unknown;
  error_description?: unknown;
  request_id?: unknown;
}

/** Turns a non-2xx response into a coded error; `what` says what was attempted ("renew lease X"). */
export function responseError(response: HttpResponse, what: string, names: string[] = []): BrokerClientError {
  const body = (response.body ?? {}) as BrokerErrorBody;
  let brokerCode: string | undefined;
  let message: string | undefined;
  let requestId: string | undefined;
  if (typeof body.error === "string") {
    // RFC 6749 token endpoint shape.
    brokerCode = body.error;
    message = typeof body.error_description === "string" ? body.error_description : undefined;
    requestId = typeof body.request_id === "string" ? body.request_id : undefined;
  } else if (body.error && typeof body.error === "object") {
    const error = body.error as { code?: unknown; message?: unknown; request_id?: unknown };
    brokerCode = typeof error.code === "string" ? error.code : undefined;
    message = typeof error.message === "string" ? error.message : undefined;
    requestId = typeof error.request_id === "string" ? error.request_id : undefined;
  }
  const status = response.status;
  const code =
    status >= 500
      ? "unavailable"
      : status === 429
        ? "rate_limited"
        : brokerCode === "invalid_client" || (status === 401 && what.startsWith("authenticate"))
          ? "invalid_client"
          : brokerCode === "lease_expired" || brokerCode === "lease_revoked" || brokerCode === "denied" || brokerCode === "not_found"
            ? brokerCode
            : "request_failed";
  const text = `${what} failed: ${message ?? `HTTP ${status}`}${brokerCode ? ` (${brokerCode})` : ""}`;
  return new BrokerClientError(code, text, {
    status,
    ...(brokerCode !== undefined && { brokerCode }),
    ...(requestId !== undefined && { requestId }),
    names,
  });
}
