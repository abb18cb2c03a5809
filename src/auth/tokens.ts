/**
 * Broker access tokens: EdDSA-signed JWTs (`sub` = server id, `aud` = broker, `exp`, `jti`,
 * `kid` in the header). Verification accepts only EdDSA with a key this broker published and
 * has not expired, so `alg: none`, HS256-with-the-public-key and foreign keys all fail.
 *
 * Verified tokens are cached by their exact text until expiry: EdDSA verification is the most
 * expensive step of a request. The cache holds claims only; whether the server is still enabled
 * is checked by the caller on every request, and a retired key evicts its tokens.
 */
import { SignJWT, jwtVerify, errors as joseErrors, type JWTHeaderParameters } from "jose";
import { randomUUID } from "node:crypto";
import { BrokerError } from "../errors.js";
import type { SigningKeys } from "./signing-keys.js";

export interface TokenClaims {
  serverId: string;
  tokenId: string;
  kid: string;
  /** Milliseconds since the epoch. */
  issuedAt: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface TokenServiceOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clock?: () => number;
  /** Upper bound of cached verified tokens (default 50 000). */
  cacheSize?: number;
}

const CLOCK_TOLERANCE_SECONDS = 5;

export class TokenService {
  private readonly cache = new Map<string, TokenClaims>();
  private readonly clock: () => number;
  private readonly cacheSize: number;

  constructor(
    private readonly keys: Pick<SigningKeys, "signingKey" | "verificationKey" | "verificationKeyOrReload" | "refreshIfStale">,
    private readonly options: TokenServiceOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.cacheSize = options.cacheSize ?? 50_000;
  }

  /** The broker's name in its tokens: `public_url`, or the URL it listens on. */
  get issuer(): string {
    return this.options.issuer;
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  async issue(serverId: string): Promise<{ token: string; claims: TokenClaims }> {
    await this.keys.refreshIfStale();
    const key = this.keys.signingKey();
    const now = this.clock();
    const nowSeconds = Math.floor(now / 1000);
    const tokenId = randomUUID();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "at+jwt" })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(serverId)
      .setJti(tokenId)
      // Millisecond `iat` (RFC 7519 allows a non-integer NumericDate): revocation by cut-off time is exact.
      .setIssuedAt(now / 1000)
      .setNotBefore(nowSeconds)
      .setExpirationTime(nowSeconds + this.options.ttlSeconds)
      .sign(key.privateKey);
    return { token, claims: { serverId, tokenId, kid: key.kid, issuedAt: now, expiresAt: (nowSeconds + this.options.ttlSeconds) * 1000 } };
  }

  /** Verifies a broker token; throws BrokerError("invalid_token") with a public reason otherwise. */
  async verify(token: string): Promise<TokenClaims> {
    const cached = this.verifiedBefore(token);
    if (cached) return cached;
    const now = this.clock();
    const claims = await this.verifyUncached(token, now);
    if (this.cache.size >= this.cacheSize) this.evictExpired(now);
    if (this.cache.size < this.cacheSize) this.cache.set(token, claims);
    return claims;
  }

  /**
   * The claims of a token this service verified before, while it has not expired and its key is
   * still published; undefined otherwise (then call {@link verify}). Synchronous, so the request
   * path skips a promise for the tokens it sees over and over.
   */
  verifiedBefore(token: string): TokenClaims | undefined {
    const cached = this.cache.get(token);
    if (cached === undefined) return undefined;
    if (cached.expiresAt > this.clock() && this.keys.verificationKey(cached.kid)) return cached;
    this.cache.delete(token);
    return undefined;
  }

  private async verifyUncached(token: string, now: number): Promise<TokenClaims> {
    let kid = "";
    try {
      const { payload } = await jwtVerify(
        token,
        async (header: JWTHeaderParameters) => {
          kid = typeof header.kid === "string" ? header.kid : "";
          const key = kid ? await this.keys.verificationKeyOrReload(kid) : undefined;
          if (!key) throw new BrokerError("invalid_token", "token signed by an unknown or retired key");
          return key.publicKey;
        },
        {
          algorithms: ["EdDSA"],
          issuer: this.options.issuer,
          audience: this.options.audience,
          requiredClaims: ["sub", "exp", "jti", "iat"],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(now),
          typ: "at+jwt",
        },
      );
      if (typeof payload.sub !== "string" || typeof payload.jti !== "string" || typeof payload.exp !== "number" || typeof payload.iat !== "number") {
        throw new BrokerError("invalid_token", "token claims are malformed");
      }
      if (payload.iat * 1000 > now + CLOCK_TOLERANCE_SECONDS * 1000) throw new BrokerError("invalid_token", "token not yet valid");
      return { serverId: payload.sub, tokenId: payload.jti, kid, issuedAt: Math.round(payload.iat * 1000), expiresAt: payload.exp * 1000 };
    } catch (error) {
      throw toTokenError(error);
    }
  }

  private evictExpired(now: number): void {
    for (const [token, claims] of this.cache) if (claims.expiresAt <= now) this.cache.delete(token);
    // Still full of live tokens: drop the oldest half rather than grow without bound.
    if (this.cache.size >= this.cacheSize) {
      let drop = Math.floor(this.cacheSize / 2);
      for (const token of this.cache.keys()) {
        if (drop-- <= 0) break;
        this.cache.delete(token);
      }
    }
  }
}

function toTokenError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  const reason =
    error instanceof joseErrors.JWTExpired
      ? "token expired"
      : error instanceof joseErrors.JWTClaimValidationFailed && error.claim === "nbf"
        ? "token not yet valid"
        : error instanceof joseErrors.JWTClaimValidationFailed
          ? `token claim ${error.claim} is invalid`
          : error instanceof joseErrors.JOSEAlgNotAllowed
            ? "token algorithm not allowed"
            : error instanceof joseErrors.JWSSignatureVerificationFailed
              ? "token signature invalid"
              : "token malformed";
  return new BrokerError("invalid_token", reason, { detail: error instanceof Error ? error.message : String(error) });
}
