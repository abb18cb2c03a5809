/**
 * Server client secrets: 256 random bits the broker generates, shown once, stored only as
 * HMAC-SHA-256 under a broker key (`client_secret_hmac_key`, envelope-encrypted in the store), as
 * Vault stores AppRole secret ids. A slow password hash buys nothing against a 256-bit random value
 * and cost ~100 ms of CPU per token request (19 tokens/s); an HMAC costs microseconds, and a stolen
 * database without the master key cannot even test a guess. Entries from before carry scrypt
 * (`scrypt$...`); they still verify and are replaced by the HMAC form on their next successful use.
 * Nothing a person chooses is stored here; such a value would need a slow hash.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import type { ServerCredential } from "../domain.js";
import type { ClientAuthMethod } from "./client-method.js";

const PREFIX = "cbs_";
/** The stored form's scheme: `hmac-sha256$<digest b64url>`; the prefix tells it from legacy `scrypt$...`. */
const HMAC_SCHEME = "hmac-sha256";
const DIGEST_BYTES = 32;

export function generateClientSecret(): string {
  return PREFIX + randomBytes(32).toString("base64url");
}

/** Hashes client secrets under the broker's client-secret key. */
export class ClientSecretHasher {
  constructor(private readonly key: Buffer) {
    if (key.length < DIGEST_BYTES) throw new TypeError(`the client-secret key must have at least ${DIGEST_BYTES} bytes`);
  }

  /** The form stored for a new secret: `hmac-sha256$<digest b64url>`. */
  hash(secret: string): string {
    return `${HMAC_SCHEME}$${this.digest(secret).toString("base64url")}`;
  }

  digest(secret: string): Buffer {
    return createHmac("sha256", this.key).update(secret, "utf8").digest();
  }
}

/** Compared when the server has no secret, so an unknown client id costs what a wrong secret costs: one HMAC, one comparison. */
const DECOY_DIGEST = randomBytes(DIGEST_BYTES);

/** True when `presented` (the HMAC of `secret`) matches `stored`; false for a malformed entry (never throws). */
async function matches(stored: string, presented: Buffer, secret: string): Promise<boolean> {
  if (stored.startsWith(`${HMAC_SCHEME}$`)) {
    const expected = Buffer.from(stored.slice(HMAC_SCHEME.length + 1), "base64url");
    return expected.length === DIGEST_BYTES && timingSafeEqual(presented, expected);
  }
  return matchesLegacyScrypt(stored, secret);
}

/** Legacy format `scrypt$N$r$p$<salt b64url>$<hash b64url>`, verified on libuv's thread pool. */
async function matchesLegacyScrypt(stored: string, secret: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5]!, "base64url");
  if (expected.length !== DIGEST_BYTES) return false;
  const actual = await new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, Buffer.from(parts[4]!, "base64url"), DIGEST_BYTES, { N, r, p, maxmem: 256 * N * r }, (error, key) => (error ? reject(error) : resolve(key))),
  );
  return timingSafeEqual(actual, expected);
}

/**
 * RFC 6749 `client_secret` (in the body or HTTP Basic): matched against every active secret of
 * the server. One HMAC of the presented secret either way; a server without a secret (unknown id,
 * key only) compares it against a decoy. A match on a legacy scrypt entry re-hashes it.
 */
export const clientSecretMethod: ClientAuthMethod<"client_secret"> = {
  name: "client_secret",
  field: "client_secret",
  presentedIn: (request) => typeof request.client_secret === "string",
  requestProblem: () => undefined,
  async authenticate(request, credentials, context) {
    const secret = request.client_secret ?? "";
    const presented = context.secretHasher.digest(secret);
    const stored = credentials.filter((c): c is ServerCredential & { secretHash: string } => c.kind === "client_secret" && c.secretHash !== null);
    if (stored.length === 0) {
      timingSafeEqual(presented, DECOY_DIGEST);
      return { authenticated: false };
    }
    let matched: (typeof stored)[number] | undefined;
    // Every entry is checked, so the time does not depend on which one matched.
    for (const credential of stored) if ((await matches(credential.secretHash, presented, secret)) && matched === undefined) matched = credential;
    if (matched === undefined) return { authenticated: false };
    if (!matched.secretHash.startsWith(`${HMAC_SCHEME}$`)) {
      // Compare-and-set: another broker may have re-hashed it first, which is as good.
      await context.replaceSecretHash(matched.id, matched.secretHash, context.secretHasher.hash(secret));
    }
    return { authenticated: true };
  },
};
