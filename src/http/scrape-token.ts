/**
 * The bearer token Prometheus presents on GET /metrics when `metrics.token_file` is set
 * (Prometheus: `authorization: { credentials_file: ... }`). Only its SHA-256 is kept, and a
 * presented token is compared with it in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { bearerToken, isBearerToken, MAX_TOKEN_LENGTH } from "./bearer.js";

/** Shortest scrape token accepted: long enough that guessing it is not a plan. */
export const MIN_SCRAPE_TOKEN_LENGTH = 16;

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export class ScrapeToken {
  private constructor(private readonly digest: Buffer) {}

  /**
   * Reads the token from `file` (surrounding whitespace ignored).
   * @throws Error naming the file, never its content, when it cannot be read, is too short, or
   *   holds characters a bearer token cannot carry (so it could never match).
   */
  static fromFile(file: string): ScrapeToken {
    let token: string;
    try {
      token = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new Error(`metrics.token_file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    if (token.length < MIN_SCRAPE_TOKEN_LENGTH) throw new Error(`metrics.token_file ${file} must hold a token of at least ${MIN_SCRAPE_TOKEN_LENGTH} characters`);
    if (!isBearerToken(token)) throw new Error(`metrics.token_file ${file} must hold a bearer token: letters, digits and ._~+/=- only, at most ${MAX_TOKEN_LENGTH}`);
    return new ScrapeToken(sha256(token));
  }

  /** Whether an `Authorization` header carries this token as `Bearer <token>` (scheme in any case). */
  matches(authorization: string | undefined): boolean {
    let presented: string;
    try {
      presented = bearerToken(authorization);
    } catch {
      return false;
    }
    // Both sides hashed: equal lengths for timingSafeEqual, and nothing learned from the length.
    return timingSafeEqual(sha256(presented), this.digest);
  }
}
