/**
 * Token wiring: the signing keys, the client-secret hasher, the issuer the broker names in its tokens (known only once it
 * listens, unless `public_url` is set), the token service, the rate limiters (the token
 * endpoint's and every route's, over counters in the shared database on PostgreSQL), and
 * the audit reference of a token, memoised because every request made with a token audits it.
 */
import { tokenReference } from "../audit/record.js";
import { ClientSecretHasher } from "../auth/client-secret.js";
import { BudgetLimiter, MemoryCounters, RateLimiter, type RateCounters } from "../auth/rate-limit.js";
import { SharedCounters, type SharedCounterStore } from "../auth/shared-counters.js";
import type { Logger } from "../logger.js";
import { SigningKeys } from "../auth/signing-keys.js";
import { TokenService } from "../auth/tokens.js";
import type { BrokerConfig } from "../config.js";
import type { Envelope } from "../crypto/envelope.js";
import { RowCache } from "../store/row-cache.js";
import type { Store } from "../store/store.js";

/** Token references kept in memory. */
const TOKEN_REF_CACHE_ENTRIES = 50_000;

/** The broker's name in tokens: their issuer and audience. Mutable until the broker listens. */
export interface IssuerIdentity {
  issuer: string;
}

export interface AuthWiringDeps {
  config: Pick<BrokerConfig, "public_url" | "token_ttl" | "rate_limit">;
  store: Pick<Store, "dialect" | "listSigningKeys" | "insertSigningKey" | "retireSigningKey"> & SharedCounterStore;
  logger: Pick<Logger, "error">;
  envelope: Envelope;
  /** The audit HMAC key (sealed meta `audit_hmac_key`). */
  auditKey: Buffer;
  /** The client-secret HMAC key (sealed meta `client_secret_hmac_key`). */
  clientSecretKey: Buffer;
  clock: () => number;
}

export interface AuthWiring {
  signingKeys: SigningKeys;
  /** Starts as `public_url` (or empty); the composition root sets it to the listen URL otherwise. */
  identity: IssuerIdentity;
  tokens: TokenService;
  limiter: RateLimiter;
  /** Every route's budget per source address (`rate_limit.requests`). */
  requestLimiter: BudgetLimiter;
  /** Hashes client secrets for storage and for verification. */
  secretHasher: ClientSecretHasher;
  /** The HMAC reference of a token that audit records carry instead of the token. */
  tokenRef: (value: string) => string;
}

/** Loads the signing keys (creating the first one in a fresh store) and builds the token services. */
export async function createAuth(deps: AuthWiringDeps): Promise<AuthWiring> {
  const { config, auditKey, clock } = deps;
  const tokenRefs = new RowCache<string>(TOKEN_REF_CACHE_ENTRIES);
  const tokenRef = (value: string) => tokenRefs.get(value, () => tokenReference(auditKey, value));
  const signingKeys = new SigningKeys(deps.store, deps.envelope, clock);
  await signingKeys.load();
  const identity: IssuerIdentity = { issuer: config.public_url ?? "" };
  const tokens = new TokenService(signingKeys, {
    get issuer() {
      return identity.issuer;
    },
    get audience() {
      return identity.issuer;
    },
    ttlSeconds: config.token_ttl,
    clock,
  });
  // Brokers sharing PostgreSQL share their counts; a SQLite broker is alone on its data directory.
  const counters: RateCounters = deps.store.dialect === "postgres" ? new SharedCounters(deps.store, deps.logger) : new MemoryCounters();
  const limiter = new RateLimiter({
    counters,
    ratePerSecond: config.rate_limit.per_second,
    burst: config.rate_limit.burst,
    maxFailures: config.rate_limit.max_failures,
    failureWindowSeconds: config.rate_limit.failure_window,
    lockoutSeconds: config.rate_limit.lockout,
    clock,
  });
  const requestLimiter = new BudgetLimiter(counters, { ratePerSecond: config.rate_limit.requests.per_second, burst: config.rate_limit.requests.burst }, clock);
  return { signingKeys, identity, tokens, limiter, requestLimiter, secretHasher: new ClientSecretHasher(deps.clientSecretKey), tokenRef };
}
