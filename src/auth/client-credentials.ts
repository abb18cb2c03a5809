/**
 * The OAuth 2.0 client-credentials exchange behind POST /v1/auth/token: a server proves who it is
 * with a client secret or an RFC 7523 client assertion and receives a short-lived broker token.
 * How the server proves it is one method of the registry (client-methods.ts); throttling per
 * source address, lockout after repeated failures (per method, client id and source address) and
 * the audit are shared.
 *
 * Refusals are coded errors: `invalid_request` (a malformed request, not audited here),
 * `unauthorized` (client authentication failed) and `rate_limited` (with `retryAfterSeconds`),
 * both audited here as `auth.token` denied and marked `audited`. The token route maps them to
 * RFC 6749 error codes.
 */
import type { AuditEntry, RequestMeta } from "../domain.js";
import { isValidServerId } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry } from "../audit/entry.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";
import type { ClientAuthContext, ClientAuthMethod, ClientAuthMethodName, TokenRequest } from "./client-method.js";
import { clientAuthMethods } from "./client-methods.js";
import type { RateLimiter } from "./rate-limit.js";
import type { TokenService } from "./tokens.js";

export type { TokenRequest } from "./client-method.js";

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
}

const invalidRequest = (message: string) => new BrokerError("invalid_request", message);
/** A refusal that {@link ClientCredentials.fail} has audited. */
const refused = (code: "unauthorized" | "rate_limited", message: string, retryAfterSeconds?: number) =>
  new BrokerError(code, message, { audited: true, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }) });

export interface ClientCredentialsDeps {
  store: Pick<Store, "getServer" | "activeCredentials" | "rememberAssertion" | "replaceCredentialSecretHash">;
  secretHasher: ClientAuthContext["secretHasher"];
  tokens: Pick<TokenService, "issue" | "ttlSeconds">;
  limiter: RateLimiter;
  audit: Pick<AuditWriter, "record">;
  /**
   * Where the throttle's own refusals (`rate_limited`, `locked_out`) are recorded: repeated ones
   * from one source are summarised per window, so a flood past the budget cannot flood the trail.
   */
  throttleAudit: { record(entry: AuditEntry): Promise<unknown> };
  metrics: Pick<Metrics, "tokenIssues">;
  tokenRef: (tokenId: string) => string;
  /** Accepted `aud` values of client assertions. */
  audiences: () => string[];
  clock: () => number;
}

export class ClientCredentials {
  constructor(private readonly deps: ClientCredentialsDeps) {}

  async exchange(request: TokenRequest, meta: RequestMeta): Promise<TokenResponse> {
    const { limiter, clock } = this.deps;
    if (request.grant_type !== "client_credentials") {
      throw invalidRequest("grant_type must be client_credentials");
    }
    const clientId = request.client_id;
    if (typeof clientId !== "string" || clientId.length === 0) throw invalidRequest("client_id is required");
    const method = presentedMethod(request);
    const problem = method.requestProblem(request);
    if (problem !== undefined) throw invalidRequest(problem);

    // Throttling is per source address only: a bucket per client id would let anyone who knows an
    // id (ids are predictable) drain it from other addresses and keep the real server out.
    const source = meta.sourceIp ?? "unknown";
    const wait = await limiter.take(`ip:${source}`);
    if (wait > 0) {
      await this.fail(clientId, meta, "rate_limited");
      throw refused("rate_limited", "too many token requests; slow down", wait);
    }
    // Failures count per method, client id and source address: guesses from one source lock out
    // that source only, and guesses at a secret (which a key-only server does not even have)
    // never lock the key path, nor the other way round.
    const failureKey = `${method.name}:${clientId}@${source}`;
    const locked = await limiter.lockedFor(failureKey);
    if (locked > 0) {
      await this.fail(clientId, meta, "locked_out");
      throw refused("rate_limited", `too many failed attempts for this client from this address; try again in ${locked} seconds`, locked);
    }

    const server = isValidServerId(clientId) ? await this.deps.store.getServer(clientId) : undefined;
    const credentials = server ? await this.deps.store.activeCredentials(server.id) : [];
    const outcome = await method.authenticate(request, credentials, {
      clientId,
      now: clock(),
      audiences: this.deps.audiences(),
      rememberAssertion: (id, expiresAt) => this.deps.store.rememberAssertion(id, expiresAt, clock()),
      secretHasher: this.deps.secretHasher,
      replaceSecretHash: (credentialId, expectedOldHash, newHash) => this.deps.store.replaceCredentialSecretHash(credentialId, expectedOldHash, newHash),
    });
    if (!outcome.authenticated && outcome.rejection) {
      await limiter.recordFailure(failureKey);
      await this.fail(clientId, meta, outcome.rejection.reason);
      throw refused("unauthorized", outcome.rejection.message);
    }
    if (!outcome.authenticated || !server) {
      await limiter.recordFailure(failureKey);
      await this.fail(clientId, meta, server ? `bad_credentials (${method.name})` : "unknown_client");
      throw refused("unauthorized", "client authentication failed");
    }
    if (server.disabledAt !== null) {
      await this.fail(clientId, meta, "server_disabled");
      throw refused("unauthorized", "this server is disabled");
    }
    await limiter.recordSuccess(failureKey);
    const { token, claims } = await this.deps.tokens.issue(server.id);
    await this.deps.audit.record(
      auditEntry({ id: server.id, kind: "server", tokenRef: this.deps.tokenRef(claims.tokenId) }, meta, { action: "auth.token", resource: server.id, outcome: "allowed", reason: method.name }, clock()),
    );
    this.deps.metrics.tokenIssues.inc({ outcome: "allowed" });
    return { access_token: token, token_type: "Bearer", expires_in: this.deps.tokens.ttlSeconds };
  }

  private async fail(clientId: string, meta: RequestMeta, reason: string): Promise<void> {
    this.deps.metrics.tokenIssues.inc({ outcome: "denied" });
    const audit = reason === "rate_limited" || reason === "locked_out" ? this.deps.throttleAudit : this.deps.audit;
    await audit.record(
      auditEntry({ id: clientId, kind: isValidServerId(clientId) ? "server" : "anonymous" }, meta, { action: "auth.token", resource: clientId, outcome: "denied", reason }, this.deps.clock()),
    );
  }
}

const METHODS: readonly ClientAuthMethod<ClientAuthMethodName>[] = Object.values(clientAuthMethods);

/** The one authentication method the request uses; invalid_request when it uses none or several. */
function presentedMethod(request: TokenRequest): ClientAuthMethod<ClientAuthMethodName> {
  const presented = METHODS.filter((method) => method.presentedIn(request));
  const [method] = presented;
  if (presented.length !== 1 || method === undefined) {
    throw invalidRequest(`send exactly one of ${METHODS.map((candidate) => candidate.field).join(" or ")}`);
  }
  return method;
}
