/**
 * BrokerClient: authenticates as one MCP server, loads its secrets and keeps them current.
 * Published through the SDK's entry point (./index.ts) as `credbroker/client`:
 *
 * ```ts
 * const client = BrokerClient.fromEnv();            // CREDBROKER_URL, CREDBROKER_CLIENT_ID, ...
 * const secrets = await client.load({ GITHUB_TOKEN: "github/token" });
 * secrets.get("GITHUB_TOKEN");                      // always the current value
 * secrets.on("change", (names) => ...);             // rotated, re-issued
 * await client.close();                             // revokes the leases
 * ```
 *
 * Imports nothing from the broker's own code: only jose and node built-ins.
 */
import { TokenSource, type ClientCredential } from "./auth.js";
import { DEFAULT_RETRY, type RetryPolicy } from "./backoff.js";
import { BrokerClientError, SecretAccessError, type DeniedSecret, type MissingSecret } from "./errors.js";
import { EventFollower, type BrokerStreamEvent } from "./events.js";
import { BrokerHttp, responseError, type HttpRequest, type HttpResponse } from "./http.js";
import { readSigningKeyFile, signingKey, type AssertionAlgorithm, type PrivateKeyInput, type SigningKey } from "./keys.js";
import { SecretSet, type IssuedSecret, type LeaseApi, type RenewedLease } from "./secret-set.js";

export { BrokerClientError, SecretAccessError, isBrokerClientError } from "./errors.js";
export type { BrokerClientErrorCode, DeniedSecret, MissingSecret } from "./errors.js";
export { SecretSet } from "./secret-set.js";
export type { SecretInfo, SecretState, SecretSetEvents } from "./secret-set.js";
export type { RetryPolicy } from "./backoff.js";
export type { AssertionAlgorithm, PrivateKeyInput } from "./keys.js";

/** Default broker address, as the CLI uses. */
export const DEFAULT_BROKER_URL = "http://127.0.0.1:8787";

export interface BrokerClientOptions {
  /** The broker's base URL, e.g. `https://credbroker.internal`. */
  url?: string;
  /** Several broker URLs (behind no load balancer): tried in order, failing over on network errors and 5xx. */
  urls?: string[];
  /** The server id the broker knows this process as. */
  clientId: string;
  /** Exactly one credential: a client secret, ... */
  clientSecret?: string;
  /** ... a private key whose public half is registered with the broker (RFC 7523 client assertion), ... */
  privateKey?: PrivateKeyInput;
  /** ... the same read from a PEM or JWK file, ... */
  privateKeyFile?: string;
  /** ... or a file holding a JWT that is sent as the client assertion, read again at every authentication (a workload identity token). */
  tokenFile?: string;
  /** Key id sent with client assertions (default: the JWK's `kid`). */
  keyId?: string;
  /** Signing algorithm of client assertions (default: from the JWK's `alg` or the key type). */
  algorithm?: AssertionAlgorithm;
  /** `aud` of client assertions (default: the token endpoint URL of the broker called; set it when the broker has a `public_url`). */
  audience?: string;
  /** Timeout of each HTTP attempt, ms (default 10 000). */
  timeoutMs?: number;
  /** Retries of each call on network errors and 5xx (default 4 attempts, 200 ms doubling up to 5 s, with jitter). */
  retry?: Partial<RetryPolicy>;
  /** Fraction of a lease's ttl after which it is renewed (default 2/3). */
  renewAt?: number;
  /** Follow GET /v1/events for rotations and revocations (default true). */
  events?: boolean;
  /** While the event stream is down (or `events` is false), fetch every secret again this often, ms (default 30 000). */
  pollIntervalMs?: number;
  /** An event stream silent this long is reconnected, ms (default 45 000, three heartbeats). */
  idleTimeoutMs?: number;
  /** Receives `error`s of sets that have no `error` listener (default: one line on stderr). */
  onUnhandledError?: (error: BrokerClientError) => void;
  /** The clock for lease bookkeeping (default Date.now). */
  clock?: () => number;
}

export interface LoadOptions {
  /** Retries of the initial fetch (e.g. `{ attempts: Infinity, maxElapsedMs: 30_000 }` to wait for a broker that is starting). */
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
}

/** The environment variables every credbroker client reads (the scripting contract). */
export const CLIENT_ENV = ["CREDBROKER_URL", "CREDBROKER_CLIENT_ID", "CREDBROKER_CLIENT_SECRET", "CREDBROKER_PRIVATE_KEY_FILE", "CREDBROKER_TOKEN_FILE"] as const;

const VERSION = "0.1.0";

export class BrokerClient {
  private readonly http: BrokerHttp;
  private readonly tokens: TokenSource;
  private readonly follower: EventFollower | undefined;
  private readonly sets = new Set<SecretSet<string>>();
  private readonly clock: () => number;
  private readonly retry: RetryPolicy;
  private readonly pollIntervalMs: number;
  private readonly renewAt: number;
  private readonly unhandledError: (error: BrokerClientError) => void;
  private readonly closeController = new AbortController();
  private pollTimer: NodeJS.Timeout | undefined;
  private streamWasUp = false;
  private firstReady: { promise: Promise<void>; resolve: () => void } | undefined;
  private closed = false;

  /** @throws TypeError on contradictory or missing options (no credential, two credentials, no URL). */
  constructor(options: BrokerClientOptions) {
    if (!options || typeof options !== "object") throw new TypeError("BrokerClient needs an options object");
    const urls = options.urls ?? (options.url !== undefined ? [options.url] : []);
    if (urls.length === 0) throw new TypeError("BrokerClient needs `url` or `urls`");
    for (const url of urls) {
      if (typeof url !== "string" || !/^https?:\/\//.test(url)) throw new TypeError(`not an http(s) broker URL: ${String(url)}`);
    }
    if (typeof options.clientId !== "string" || options.clientId.length === 0) throw new TypeError("BrokerClient needs `clientId`");
    const given = (["clientSecret", "privateKey", "privateKeyFile", "tokenFile"] as const).filter((key) => options[key] !== undefined);
    if (given.length !== 1) throw new TypeError(`BrokerClient needs exactly one of clientSecret, privateKey, privateKeyFile, tokenFile (got ${given.length === 0 ? "none" : given.join(", ")})`);
    const renewAt = options.renewAt ?? 2 / 3;
    if (!(renewAt > 0 && renewAt < 1)) throw new TypeError("renewAt must be a fraction between 0 and 1");

    this.clock = options.clock ?? Date.now;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.pollIntervalMs = options.pollIntervalMs ?? 30_000;
    this.renewAt = renewAt;
    this.unhandledError =
      options.onUnhandledError ??
      ((error) => {
        process.stderr.write(`credbroker client: ${error.message}\n`);
      });
    const userAgent = `credbroker-client/${VERSION} node/${process.versions.node}`;
    this.http = new BrokerHttp({ urls, timeoutMs: options.timeoutMs ?? 10_000, retry: this.retry, userAgent });
    this.tokens = new TokenSource(this.http, {
      clientId: options.clientId,
      credential: credentialOf(options),
      audience: options.audience,
      clock: this.clock,
    });
    if (options.events !== false) {
      this.follower = new EventFollower(this.http, this.tokens, {
        idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
        retry: { baseDelayMs: 500, maxDelayMs: 30_000 },
        userAgent,
        onEvent: (event) => this.onEvent(event),
        onState: (up) => this.onStreamState(up),
        // Reading need not wait for a stream that cannot be had: polling covers it.
        onFailure: () => this.firstReady?.resolve(),
      });
    }
  }

  /**
   * A client configured by the scripting contract: `CREDBROKER_URL` (one URL, or several separated
   * by commas; default http://127.0.0.1:8787), `CREDBROKER_CLIENT_ID`, and one of
   * `CREDBROKER_CLIENT_SECRET`, `CREDBROKER_PRIVATE_KEY_FILE`, `CREDBROKER_TOKEN_FILE`.
   * @throws BrokerClientError `invalid_configuration` naming the variable that is missing or contradictory.
   */
  static fromEnv(env: Record<string, string | undefined> = process.env, overrides: Partial<BrokerClientOptions> = {}): BrokerClient {
    const clientId = env.CREDBROKER_CLIENT_ID;
    if (!clientId) throw new BrokerClientError("invalid_configuration", "CREDBROKER_CLIENT_ID is not set (the server id registered with `credbroker server add`)");
    const credentials = (["CREDBROKER_CLIENT_SECRET", "CREDBROKER_PRIVATE_KEY_FILE", "CREDBROKER_TOKEN_FILE"] as const).filter((name) => env[name]);
    if (credentials.length !== 1) {
      throw new BrokerClientError(
        "invalid_configuration",
        credentials.length === 0
          ? "no credential: set CREDBROKER_CLIENT_SECRET or CREDBROKER_PRIVATE_KEY_FILE"
          : `set only one of ${credentials.join(", ")}`,
      );
    }
    const urls = (env.CREDBROKER_URL ?? DEFAULT_BROKER_URL)
      .split(",")
      .map((url) => url.trim())
      .filter(Boolean);
    const bad = urls.find((url) => !/^https?:\/\/[^\s]+$/.test(url));
    if (urls.length === 0 || bad !== undefined) throw new BrokerClientError("invalid_configuration", `CREDBROKER_URL is not an http(s) URL: ${bad ?? "(empty)"}`);
    return new BrokerClient({
      urls,
      clientId,
      ...(env.CREDBROKER_CLIENT_SECRET && { clientSecret: env.CREDBROKER_CLIENT_SECRET }),
      ...(env.CREDBROKER_PRIVATE_KEY_FILE && { privateKeyFile: env.CREDBROKER_PRIVATE_KEY_FILE }),
      ...(env.CREDBROKER_TOKEN_FILE && { tokenFile: env.CREDBROKER_TOKEN_FILE }),
      ...overrides,
    });
  }

  /**
   * Fetches every secret of `mapping` (environment name → secret name) in one round trip and
   * returns the live set. All or nothing.
   * @throws SecretAccessError (`denied` / `not_found`) naming each refused secret and why;
   *   BrokerClientError `invalid_client` when the broker refuses the credentials, `unavailable`
   *   when it cannot be reached after retries.
   */
  async load<const M extends Record<string, string>>(mapping: M, options: LoadOptions = {}): Promise<SecretSet<Extract<keyof M, string>>> {
    if (!mapping || typeof mapping !== "object") throw new TypeError("load() needs a mapping of environment names to secret names");
    const entries = Object.entries(mapping);
    if (entries.length === 0) throw new TypeError("load() needs at least one secret");
    for (const [name, secret] of entries) {
      if (name.length === 0 || typeof secret !== "string" || secret.length === 0) throw new TypeError(`load(): ${JSON.stringify(name)} must map to a secret name`);
    }
    this.assertOpen();
    const signal = options.signal ? AbortSignal.any([options.signal, this.closeController.signal]) : this.closeController.signal;
    const retry = { ...this.retry, ...options.retry };
    await this.tokens.token(signal, retry);
    // Follow events before reading, so no rotation between the read and the stream is missed.
    await this.awaitStream();
    const namesBySecret = new Map<string, string[]>();
    for (const [name, secret] of entries) namesBySecret.set(secret, [...(namesBySecret.get(secret) ?? []), name]);
    const requestedAt = this.clock();
    const issued = await this.read([...namesBySecret.keys()], namesBySecret, { retry, signal });
    this.assertOpen();
    const set: SecretSet<Extract<keyof M, string>> = new SecretSet(this.leaseApi(), mapping as Record<Extract<keyof M, string>, string>, issued, requestedAt, {
      clock: this.clock,
      renewAt: this.renewAt,
      pollIntervalMs: this.pollIntervalMs,
      unhandledError: this.unhandledError,
      onClose: () => {
        this.sets.delete(set as SecretSet<string>);
        this.updatePolling();
      },
    });
    this.sets.add(set as SecretSet<string>);
    this.updatePolling();
    return set;
  }

  /** Stops every timer and stream and revokes every lease this client holds (best effort). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.follower?.stop();
    clearTimeout(this.pollTimer);
    const sets = [...this.sets];
    await Promise.all(sets.map((set) => set.close()));
    this.closeController.abort(new BrokerClientError("closed", "the client was closed"));
  }

  /** Whether GET /v1/events is connected right now. */
  get following(): boolean {
    return this.follower?.isUp ?? false;
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerClientError("closed", "the client was closed");
  }

  private async awaitStream(): Promise<void> {
    if (!this.follower) return;
    if (!this.firstReady) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.firstReady = { promise, resolve };
      this.follower.start();
    }
    if (this.follower.isUp) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstReady.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.http.timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Sends an authenticated request; on 401 gets a fresh token and tries once more. */
  private async authorized(request: HttpRequest): Promise<HttpResponse> {
    const signal = request.signal ?? this.closeController.signal;
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.tokens.token(signal);
      const response = await this.http.send({ ...request, signal, headers: { ...request.headers, authorization: `Bearer ${token}` } });
      if (response.status !== 401 || attempt > 0) return response;
      this.tokens.invalidate(token);
    }
  }

  private async read(secrets: string[], namesBySecret: ReadonlyMap<string, string[]>, options: { retry?: RetryPolicy; signal?: AbortSignal } = {}): Promise<Record<string, IssuedSecret>> {
    const response = await this.authorized({ method: "POST", path: "/v1/secrets/read", body: { names: secrets }, ...options });
    if (response.status === 200) {
      const issued = (response.body as { secrets?: unknown } | undefined)?.secrets;
      if (!issued || typeof issued !== "object") throw new BrokerClientError("bad_response", "the broker's answer has no `secrets`");
      for (const secret of secrets) {
        if (!isIssued((issued as Record<string, unknown>)[secret])) throw new BrokerClientError("bad_response", `the broker's answer lacks a valid ${secret}`);
      }
      return issued as Record<string, IssuedSecret>;
    }
    const error = (response.body as { error?: { code?: unknown; denied?: unknown; missing?: unknown; request_id?: unknown } } | undefined)?.error;
    const requestId = typeof error?.request_id === "string" ? { requestId: error.request_id } : {};
    if (response.status === 403 && error?.code === "denied" && Array.isArray(error.denied)) {
      const denied: DeniedSecret[] = [];
      for (const item of error.denied as Array<{ secret?: unknown; reason?: unknown; message?: unknown }>) {
        const secret = String(item.secret ?? "");
        for (const name of namesBySecret.get(secret) ?? [secret]) {
          denied.push({ name, secret, reason: String(item.reason ?? ""), message: String(item.message ?? "") });
        }
      }
      throw new SecretAccessError("denied", denied, [], { status: 403, brokerCode: "denied", ...requestId });
    }
    if (response.status === 404 && error?.code === "not_found" && Array.isArray(error.missing)) {
      const missing: MissingSecret[] = [];
      for (const secret of (error.missing as unknown[]).map(String)) {
        for (const name of namesBySecret.get(secret) ?? [secret]) missing.push({ name, secret });
      }
      throw new SecretAccessError("not_found", [], missing, { status: 404, brokerCode: "not_found", ...requestId });
    }
    throw responseError(response, `read ${secrets.join(", ")}`, secrets.flatMap((secret) => namesBySecret.get(secret) ?? []));
  }

  private leaseApi(): LeaseApi {
    return {
      read: (secrets, namesBySecret) => this.read(secrets, namesBySecret),
      renew: async (leaseId): Promise<RenewedLease> => {
        const response = await this.authorized({ method: "POST", path: `/v1/leases/${encodeURIComponent(leaseId)}/renew`, body: {} });
        if (response.status !== 200) throw responseError(response, `renew lease ${leaseId}`);
        const body = response.body as Partial<RenewedLease> | undefined;
        if (typeof body?.lease_ttl !== "number" || typeof body.renewable !== "boolean") throw new BrokerClientError("bad_response", "the renewal answer lacks lease_ttl or renewable");
        return body as RenewedLease;
      },
      revoke: async (leaseId) => {
        // Runs during close(), after which the client's own signal is aborted: use a fresh one.
        const response = await this.authorized({
          method: "DELETE",
          path: `/v1/leases/${encodeURIComponent(leaseId)}`,
          retry: { ...this.retry, attempts: 2 },
          signal: AbortSignal.timeout(this.http.timeoutMs * 2),
        });
        if (response.status !== 204 && response.status !== 404 && response.status !== 410) throw responseError(response, `revoke lease ${leaseId}`);
      },
    };
  }

  private onEvent(event: BrokerStreamEvent): void {
    switch (event.type) {
      case "ready":
        this.firstReady?.resolve();
        return;
      case "secret.version":
        for (const set of this.sets) set.secretChanged(event.secret, event.version);
        return;
      case "secret.deleted":
        for (const set of this.sets) set.secretChanged(event.secret, undefined);
        return;
      case "lease.revoked":
        for (const set of this.sets) set.leaseRevoked(event.lease_id);
        return;
      case "server.disabled":
        for (const set of this.sets) set.serverDisabled();
        return;
      case "token.expired":
        return;
    }
  }

  private onStreamState(up: boolean): void {
    if (up) {
      // Back after an outage: events may have been missed meanwhile.
      if (this.streamWasUp) for (const set of this.sets) set.refreshAll();
      this.streamWasUp = true;
    }
    this.updatePolling();
  }

  /** Polls while there are sets and no live event stream. */
  private updatePolling(): void {
    const needed = !this.closed && this.sets.size > 0 && !(this.follower?.isUp ?? false);
    if (!needed) {
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
      return;
    }
    if (this.pollTimer) return;
    const tick = () => {
      this.pollTimer = undefined;
      if (this.closed || this.follower?.isUp) return;
      for (const set of this.sets) set.refreshAll();
      this.updatePolling();
    };
    this.pollTimer = setTimeout(tick, this.pollIntervalMs);
    this.pollTimer.unref();
  }
}

function credentialOf(options: BrokerClientOptions): ClientCredential {
  if (options.clientSecret !== undefined) return { kind: "secret", secret: options.clientSecret };
  if (options.tokenFile !== undefined) return { kind: "token_file", file: options.tokenFile };
  const overrides = { ...(options.algorithm && { alg: options.algorithm }), ...(options.keyId !== undefined && { kid: options.keyId }) };
  let cached: Promise<SigningKey> | undefined;
  const load = options.privateKeyFile !== undefined ? () => readSigningKeyFile(options.privateKeyFile!, overrides) : () => signingKey(options.privateKey!, overrides);
  return {
    kind: "key",
    key: () => {
      cached ??= load().catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
      return cached;
    },
  };
}

function isIssued(value: unknown): value is IssuedSecret {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.value === "string" &&
    (v.encoding === "utf8" || v.encoding === "base64") &&
    typeof v.version === "number" &&
    typeof v.lease_id === "string" &&
    typeof v.lease_ttl === "number" &&
    typeof v.renewable === "boolean"
  );
}
