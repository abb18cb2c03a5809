/**
 * The OAuth 2.0 client-credentials exchange behind POST /v1/auth/token: a server proves who it is
 * with a client secret or an RFC 7523 client assertion and receives a short-lived broker token.
 * Throttled per client id and per source address; repeated failures lock the client id out.
 *
 * Refusals are coded errors: `invalid_request` (a malformed request, not audited here),
 * `unauthorized` (client authentication failed) and `rate_limited` (with `retryAfterSeconds`),
 * both audited here as `auth.token` denied and marked `audited`. The token route maps them to
 * RFC 6749 error codes.
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

const invalidRequest = (message: string) => new BrokerError("invalid_request", message);
/** A refusal that {@link ClientCredentials.fail} has audited. */
const refused = (code: "unauthorized" | "rate_limited", message: string, retryAfterSeconds?: number) =>
  new BrokerError(code, message, { audited: true, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }) });

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
      throw invalidRequest("grant_type must be client_credentials");
    }
    const clientId = request.client_id;
    if (typeof clientId !== "string" || clientId.length === 0) throw invalidRequest("client_id is required");
    const hasSecret = typeof request.client_secret === "string";
    const hasAssertion = request.client_assertion !== undefined || request.client_assertion_type !== undefined;
    if (hasSecret === hasAssertion) throw invalidRequest("send exactly one of client_secret or client_assertion");
    if (hasAssertion && request.client_assertion_type !== CLIENT_ASSERTION_TYPE) {
      throw invalidRequest(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    }

    const waitAddress = meta.sourceIp ? limiter.take(`ip:${meta.sourceIp}`) : 0;
    const waitClient = limiter.take(`client:${clientId}`);
    if (waitAddress > 0 || waitClient > 0) {
      await this.fail(clientId, meta, "rate_limited");
      throw refused("rate_limited", "too many token requests; slow down", Math.max(waitAddress, waitClient));
    }
    const locked = limiter.lockedFor(`client:${clientId}`);
    if (locked > 0) {
      await this.fail(clientId, meta, "locked_out");
      throw refused("rate_limited", `too many failed attempts for this client; try again in ${locked} seconds`, locked);
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
          throw refused("unauthorized", error.message);
        }
      }
    }
    if (!authenticated || !server) {
      limiter.recordFailure(`client:${clientId}`);
      await this.fail(clientId, meta, server ? `bad_credentials (${method})` : "unknown_client");
      throw refused("unauthorized", "client authentication failed");
    }
    if (server.disabledAt !== null) {
      await this.fail(clientId, meta, "server_disabled");
      throw refused("unauthorized", "this server is disabled");
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
