/**
 * The OAuth 2.0 client-credentials exchange behind POST /v1/auth/token: a server proves who it is
 * with a client secret or an RFC 7523 client assertion and receives a short-lived broker token.
 * Throttled per client id and per source address; repeated failures lock the client id out.
 */
import type { JWK } from "jose";
import type { RequestMeta } from "../domain.js";
import { isValidServerId } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry } from "../audit/entry.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";
import { CLIENT_ASSERTION_TYPE, verifyClientAssertion } from "./client-assertion.js";
import { decoyClientSecretHash, verifyClientSecret } from "./client-secret.js";
import type { RateLimiter } from "./rate-limit.js";
import type { TokenService } from "./tokens.js";

export interface TokenRequest {
  grant_type?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
  client_assertion_type?: string | undefined;
  client_assertion?: string | undefined;
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
}

/** RFC 6749 section 5.2 error codes (plus 429 throttling). */
export type OAuthErrorCode = "invalid_request" | "invalid_client" | "unsupported_grant_type" | "rate_limited";

export function oauthError(code: OAuthErrorCode, description: string, retryAfterSeconds?: number): BrokerError {
  const status = code === "invalid_client" ? 401 : code === "rate_limited" ? 429 : 400;
  return new BrokerError(code === "invalid_client" ? "unauthorized" : code === "rate_limited" ? "rate_limited" : "invalid_request", description, {
    status,
    data: { oauth_error: code },
    ...(retryAfterSeconds !== undefined && { retryAfterSeconds }),
  });
}

export interface ClientCredentialsDeps {
  store: Pick<Store, "getServer" | "activeCredentials" | "rememberAssertion">;
  tokens: Pick<TokenService, "issue" | "ttlSeconds">;
  limiter: RateLimiter;
  audit: Pick<AuditWriter, "record">;
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
      throw oauthError(request.grant_type ? "unsupported_grant_type" : "invalid_request", "grant_type must be client_credentials");
    }
    const clientId = request.client_id;
    if (typeof clientId !== "string" || clientId.length === 0) throw oauthError("invalid_request", "client_id is required");
    const hasSecret = typeof request.client_secret === "string";
    const hasAssertion = request.client_assertion !== undefined || request.client_assertion_type !== undefined;
    if (hasSecret === hasAssertion) throw oauthError("invalid_request", "send exactly one of client_secret or client_assertion");
    if (hasAssertion && request.client_assertion_type !== CLIENT_ASSERTION_TYPE) {
      throw oauthError("invalid_request", `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    }

    const waitAddress = meta.sourceIp ? limiter.take(`ip:${meta.sourceIp}`) : 0;
    const waitClient = limiter.take(`client:${clientId}`);
    if (waitAddress > 0 || waitClient > 0) {
      await this.fail(clientId, meta, "rate_limited");
      throw oauthError("rate_limited", "too many token requests; slow down", Math.max(waitAddress, waitClient));
    }
    const locked = limiter.lockedFor(`client:${clientId}`);
    if (locked > 0) {
      await this.fail(clientId, meta, "locked_out");
      throw oauthError("rate_limited", `too many failed attempts for this client; try again in ${locked} seconds`, locked);
    }

    const server = isValidServerId(clientId) ? await this.deps.store.getServer(clientId) : undefined;
    const credentials = server ? await this.deps.store.activeCredentials(server.id) : [];
    let authenticated = false;
    let method = "client_secret";
    if (hasSecret) {
      const hashes = credentials.flatMap((c) => (c.kind === "client_secret" && c.secretHash ? [c.secretHash] : []));
      // Always pay one scrypt, so unknown clients and wrong secrets cost the same time.
      for (const hash of hashes.length > 0 ? hashes : [await decoyClientSecretHash()]) {
        if ((await verifyClientSecret(request.client_secret!, hash)) && hashes.length > 0) authenticated = true;
      }
    } else {
      method = "private_key_jwt";
      const jwks = credentials.flatMap((c) => (c.kind === "public_key" && c.publicJwk ? [JSON.parse(c.publicJwk) as JWK] : []));
      if (jwks.length > 0 && typeof request.client_assertion === "string") {
        try {
          await verifyClientAssertion({
            clientId,
            assertion: request.client_assertion,
            publicJwks: jwks,
            audiences: this.deps.audiences(),
            now: clock(),
            remember: (id, expiresAt) => this.deps.store.rememberAssertion(id, expiresAt, clock()),
          });
          authenticated = true;
        } catch (error) {
          if (!(error instanceof BrokerError)) throw error;
          limiter.recordFailure(`client:${clientId}`);
          await this.fail(clientId, meta, `invalid_assertion: ${error.message}`);
          throw oauthError("invalid_client", error.message);
        }
      }
    }
    if (!authenticated || !server) {
      limiter.recordFailure(`client:${clientId}`);
      await this.fail(clientId, meta, server ? `bad_credentials (${method})` : "unknown_client");
      throw oauthError("invalid_client", "client authentication failed");
    }
    if (server.disabledAt !== null) {
      await this.fail(clientId, meta, "server_disabled");
      throw oauthError("invalid_client", "this server is disabled");
    }
    limiter.recordSuccess(`client:${clientId}`);
    const { token, claims } = await this.deps.tokens.issue(server.id);
    await this.deps.audit.record(
      auditEntry({ id: server.id, kind: "server", tokenRef: this.deps.tokenRef(claims.tokenId) }, meta, { action: "auth.token", resource: server.id, outcome: "allowed", reason: method }, clock()),
    );
    this.deps.metrics.tokenIssues.inc({ outcome: "allowed" });
    return { access_token: token, token_type: "Bearer", expires_in: this.deps.tokens.ttlSeconds };
  }

  private async fail(clientId: string, meta: RequestMeta, reason: string): Promise<void> {
    this.deps.metrics.tokenIssues.inc({ outcome: "denied" });
    await this.deps.audit.record(
      auditEntry({ id: clientId, kind: isValidServerId(clientId) ? "server" : "anonymous" }, meta, { action: "auth.token", resource: clientId, outcome: "denied", reason }, this.deps.clock()),
    );
  }
}
