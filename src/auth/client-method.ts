/**
 * The plug-in point for client authentication at POST /v1/auth/token: how a server proves who it
 * is (RFC 6749 client_secret, RFC 7523 private_key_jwt; OIDC workload identity federation would be
 * one more). Each method recognises its own request fields and verifies them against the server's
 * registered credentials; the exchange (client-credentials.ts) does the rest: rate limits, lockout,
 * audit and the broker token. The registry is client-methods.ts.
 */
import type { ServerCredential } from "../domain.js";

/** The token request's fields, as sent (form or JSON); every field may be missing. */
export interface TokenRequest {
  grant_type?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
  client_assertion_type?: string | undefined;
  client_assertion?: string | undefined;
}

export type ClientAuthMethodName = "client_secret" | "private_key_jwt";

/** What a method may use besides the request and the server's credentials. */
export interface ClientAuthContext {
  clientId: string;
  /** ms since the epoch. */
  now: number;
  /** Accepted `aud` values of client assertions: the broker's issuer and token endpoint URLs. */
  audiences: string[];
  /** Records a one-time assertion id until `expiresAt` (ms); false when it was recorded before. */
  rememberAssertion: (assertionId: string, expiresAt: number) => Promise<boolean>;
  /** HMAC-SHA-256 of client secrets under the broker's key (ClientSecretHasher in client-secret.ts). */
  secretHasher: { hash(secret: string): string; digest(secret: string): Buffer };
  /** Stores `newHash` for the credential if its hash is still `expectedOldHash`; false otherwise. */
  replaceSecretHash: (credentialId: string, expectedOldHash: string, newHash: string) => Promise<boolean>;
}

export type ClientAuthOutcome =
  | { authenticated: true }
  /** Not proven. `rejection`, when set, says why in a way the client may be told (`message`) and the audit records (`reason`). */
  | { authenticated: false; rejection?: { reason: string; message: string } };

export interface ClientAuthMethod<N extends ClientAuthMethodName> {
  /** The method's name, recorded as the reason of a successful `auth.token` audit event. */
  readonly name: N;
  /** The request field carrying this method's credential, named in usage errors. */
  readonly field: string;
  /** True when the request carries any of this method's fields: then it must be the only method used. */
  presentedIn(request: TokenRequest): boolean;
  /** What is wrong with the form of a request that presents this method (the client sees it as invalid_request), or undefined. */
  requestProblem(request: TokenRequest): string | undefined;
  /**
   * Checks the presented credential against the server's active credentials (`[]` when the client id
   * is unknown). A wrong or missing credential resolves `{authenticated: false}`, never throws; it
   * throws only when the broker itself fails (e.g. storage while remembering an assertion id).
   */
  authenticate(request: TokenRequest, credentials: readonly ServerCredential[], context: ClientAuthContext): Promise<ClientAuthOutcome>;
}
