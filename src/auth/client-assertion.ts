/**
 * RFC 7523 `private_key_jwt` client authentication: the server signs a short JWT with its own
 * private key; the broker verifies it against the public JWKs registered for that server. No
 * shared secret exists at all. Each assertion id (`jti`) is accepted once (replay protection).
 */
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from "jose";
import { BrokerError } from "../errors.js";
import type { ClientAuthMethod } from "./client-method.js";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Algorithms a server may sign assertions with; symmetric and `none` are never accepted. */
const ASSERTION_ALGORITHMS = ["EdDSA", "ES256", "ES384", "PS256", "RS256"] as const;

const CLOCK_TOLERANCE_SECONDS = 5;

/** Longest accepted assertion lifetime: bounds how long a jti must be remembered. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

interface AssertionCheck {
  clientId: string;
  assertion: string;
  publicJwks: JWK[];
  /** Accepted `aud` values: the broker's issuer URL and its token endpoint URL. */
  audiences: string[];
  now: number;
  /** Records the jti; false when it was seen before. */
  remember: (assertionId: string, expiresAt: number) => Promise<boolean>;
}

const invalidClient = (message: string, detail?: string) =>
  new BrokerError("unauthorized", message, detail === undefined ? {} : { detail });

/** Verifies the assertion; throws BrokerError("unauthorized") (RFC 6749 `invalid_client`) otherwise. */
async function verifyClientAssertion(check: AssertionCheck): Promise<void> {
  let header;
  try {
    header = decodeProtectedHeader(check.assertion);
  } catch {
    throw invalidClient("client assertion is malformed");
  }
  const alg = header.alg;
  if (typeof alg !== "string" || !(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) {
    throw invalidClient("client assertion algorithm not allowed");
  }
  const candidates = check.publicJwks.filter((jwk) => (header.kid === undefined || jwk.kid === undefined || jwk.kid === header.kid) && (jwk.alg === undefined || jwk.alg === alg));
  let lastError: unknown;
  for (const jwk of candidates) {
    try {
      const key = await importJWK(jwk, alg);
      const { payload } = await jwtVerify(check.assertion, key, {
        algorithms: [alg],
        issuer: check.clientId,
        subject: check.clientId,
        audience: check.audiences,
        requiredClaims: ["exp", "jti"],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(check.now),
      });
      const nowSeconds = Math.floor(check.now / 1000);
      if (typeof payload.exp !== "number" || payload.exp - nowSeconds > MAX_ASSERTION_LIFETIME_SECONDS) {
        throw invalidClient(`client assertion must expire within ${MAX_ASSERTION_LIFETIME_SECONDS} seconds`);
      }
      // Remember the jti for as long as the assertion could still be accepted (exp plus the tolerance).
      const fresh = await check.remember(`${check.clientId}:${String(payload.jti)}`, (payload.exp + CLOCK_TOLERANCE_SECONDS) * 1000);
      if (!fresh) throw invalidClient("client assertion was already used");
      return;
    } catch (error) {
      if (error instanceof BrokerError) throw error;
      lastError = error;
    }
  }
  throw invalidClient("client assertion could not be verified", lastError instanceof Error ? lastError.message : undefined);
}

/**
 * RFC 7523 `private_key_jwt`: `client_assertion_type` (the jwt-bearer URN) and `client_assertion`,
 * verified against the server's registered public keys. A server with no registered key is not
 * authenticated; an assertion that fails verification is rejected with the reason.
 */
export const privateKeyJwtMethod: ClientAuthMethod<"private_key_jwt"> = {
  name: "private_key_jwt",
  field: "client_assertion",
  presentedIn: (request) => request.client_assertion !== undefined || request.client_assertion_type !== undefined,
  requestProblem: (request) => (request.client_assertion_type === CLIENT_ASSERTION_TYPE ? undefined : `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`),
  async authenticate(request, credentials, context) {
    const jwks = credentials.flatMap((c) => (c.kind === "public_key" && c.publicJwk ? [JSON.parse(c.publicJwk) as JWK] : []));
    if (jwks.length === 0 || typeof request.client_assertion !== "string") return { authenticated: false };
    try {
      await verifyClientAssertion({
        clientId: context.clientId,
        assertion: request.client_assertion,
        publicJwks: jwks,
        audiences: context.audiences,
        now: context.now,
        remember: context.rememberAssertion,
      });
      return { authenticated: true };
    } catch (error) {
      // Only a refused assertion is a wrong credential; a store that cannot record the jti is the
      // broker failing (503), which must neither count toward a lockout nor read as a bad key.
      if (!(error instanceof BrokerError) || error.code !== "unauthorized") throw error;
      return { authenticated: false, rejection: { reason: `invalid_assertion: ${error.message}`, message: error.message } };
    }
  },
};
