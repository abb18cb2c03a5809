/**
 * The server directory: what authentication asks on every server request (does this server
 * exist, is it disabled, since when are its tokens refused). Answered from the store's row cache,
 * so the hot path does not query the database for it. {@link tokenStanding} is the one decision
 * whether a verified token still speaks for its server: the request middleware and open event
 * streams both ask it.
 */
import type { ServerId, ServerRecord } from "../domain.js";
import type { Store } from "../store/store.js";

export interface ServerDirectory {
  /**
   * The server's record; undefined when no server has this id (never throws `not_found`).
   * @throws BrokerError `storage_unavailable` when the store cannot answer.
   */
  find(id: ServerId): Promise<ServerRecord | undefined>;
}

/** The directory over the store (whose `getServer` is served from its row cache). */
export function storeServerDirectory(store: Pick<Store, "getServer">): ServerDirectory {
  return { find: (id) => store.getServer(id) };
}

/** The facts of a verified token its standing depends on (auth/tokens.ts `TokenClaims` has them). */
export interface ServerTokenFacts {
  serverId: ServerId;
  /** Milliseconds since the epoch. */
  issuedAt: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Why a verified token no longer speaks for its server (also the audit reason of the refusal). */
export type TokenRefusal = "unknown_server" | "server_disabled" | "token_revoked" | "token_expired";

export type TokenStanding = { valid: true; server: ServerRecord } | { valid: false; reason: TokenRefusal; message: string };

/**
 * Whether a token whose signature was verified still admits its server: the server exists, is
 * enabled, did not refuse tokens issued before the token's `iat` (credentials rotated, server
 * disabled), and `now()` is before the token's `exp` (no clock tolerance: at `exp` it is over).
 * `now` is read after the lookup, so the answer holds for the moment it is returned.
 * @throws BrokerError `storage_unavailable` when the directory cannot answer (callers refuse).
 */
export async function tokenStanding(directory: ServerDirectory, token: ServerTokenFacts, now: () => number): Promise<TokenStanding> {
  const server = await directory.find(token.serverId);
  if (!server) return { valid: false, reason: "unknown_server", message: "token subject is not a registered server" };
  if (server.disabledAt !== null) return { valid: false, reason: "server_disabled", message: "this server is disabled" };
  if (server.tokensNotBefore !== null && token.issuedAt < server.tokensNotBefore) {
    return { valid: false, reason: "token_revoked", message: "token was revoked (the server was disabled or its credentials rotated); get a new one" };
  }
  if (now() >= token.expiresAt) return { valid: false, reason: "token_expired", message: "token expired" };
  return { valid: true, server };
}
