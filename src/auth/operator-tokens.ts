/**
 * Operator tokens for humans (CLI, API). 256 random bits, so a fast SHA-256 is a sound stored
 * form (no dictionary to attack) and allows lookup by hash on every request; the raw token is
 * shown once and never stored.
 */
import { createHash, randomBytes } from "node:crypto";

export const OPERATOR_TOKEN_PREFIX = "cbo_";

export function generateOperatorToken(): string {
  return OPERATOR_TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashOperatorToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function looksLikeOperatorToken(token: string): boolean {
  return token.startsWith(OPERATOR_TOKEN_PREFIX) && token.length === OPERATOR_TOKEN_PREFIX.length + 43;
}
