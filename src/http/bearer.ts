/**
 * `Authorization: Bearer <token>` (RFC 6750), as every bearer-protected route reads it. The scheme
 * name is case-insensitive (RFC 7235 section 2.1): `bearer` and `BEARER` carry a token too.
 */
import { BrokerError } from "../errors.js";

const SCHEME = "bearer ";
/** Longest token accepted in a bearer header. */
export const MAX_TOKEN_LENGTH = 4096;
const TOKEN_CHARACTERS = /^[A-Za-z0-9._~+/=-]+$/;
const MALFORMED_BEARER = "missing or malformed bearer token (Authorization: Bearer ...)";

/** Whether `token` could be sent as a bearer token: RFC 6750 characters, 1 to 4096 of them. */
export function isBearerToken(token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && TOKEN_CHARACTERS.test(token);
}

/** Whether the header starts with the scheme and its space, in any letter case. */
function hasBearerScheme(header: string): boolean {
  return header.length > SCHEME.length && header.slice(0, SCHEME.length).toLowerCase() === SCHEME;
}

/**
 * The text after `Bearer ` without any check of it, or undefined: only for looking up tokens that
 * passed {@link bearerToken} and verification before (a cache hit proves the same checks held).
 */
export function uncheckedBearer(header: string | undefined): string | undefined {
  return header !== undefined && hasBearerScheme(header) ? header.slice(SCHEME.length) : undefined;
}

/**
 * The token of `Authorization: Bearer <token>`, the scheme in any letter case.
 * @throws BrokerError `unauthorized` when the header is missing or malformed.
 */
export function bearerToken(header: string | undefined): string {
  // Length and prefix first, then one plain character-class scan: a bounded-repeat pattern over
  // the whole header cost several times more on every request.
  if (header === undefined || header.length > SCHEME.length + MAX_TOKEN_LENGTH || !hasBearerScheme(header)) {
    throw new BrokerError("unauthorized", MALFORMED_BEARER);
  }
  const token = header.slice(SCHEME.length);
  if (!TOKEN_CHARACTERS.test(token)) throw new BrokerError("unauthorized", MALFORMED_BEARER);
  return token;
}
