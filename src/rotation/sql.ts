import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

import pg from "pg";

import { POSTGRES_IDENTIFIER_MAX_BYTES } from "../policy/rotation-options.js";

/**
 * SQL text for statements that take no bind parameters (ALTER ROLE): identifiers and literals
 * quoted by pg's own escaping, after refusing what quoting cannot make right.
 */

/**
 * `name` as a quoted identifier (`"app"`, `"a""b"`), so any name is one identifier and never SQL.
 *
 * @throws TypeError for an empty name, a NUL character (PostgreSQL ends the text there), or more
 *   than 63 bytes (PostgreSQL would truncate it to another, possibly existing, name). Policy
 *   validation refuses such role names first; reaching this is a programming error.
 */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new TypeError("an SQL identifier cannot be empty");
  if (name.includes("\u0000")) throw new TypeError("an SQL identifier cannot contain NUL");
  if (Buffer.byteLength(name, "utf8") > POSTGRES_IDENTIFIER_MAX_BYTES) {
    throw new TypeError(`an SQL identifier is at most ${POSTGRES_IDENTIFIER_MAX_BYTES} bytes; PostgreSQL would truncate it`);
  }
  return pg.escapeIdentifier(name);
}

/**
 * `text` as a string literal (`'it''s'`; with backslashes `E'a\\b'`).
 *
 * @throws TypeError for a NUL character, which no PostgreSQL text can hold.
 */
export function quoteLiteral(text: string): string {
  if (text.includes("\u0000")) throw new TypeError("an SQL literal cannot contain NUL");
  return pg.escapeLiteral(text);
}

const SCRAM_ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, the format of
 * pg_authid.rolpassword). Sending the verifier instead of the password keeps the password out of
 * the server's statement log and pg_stat_activity. `password` must be printable ASCII, for which
 * SASLprep changes nothing (generated values always are).
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16)): string {
  if (!/^[\x21-\x7e]*$/.test(password)) throw new TypeError("scramVerifier expects a printable ASCII password");
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
