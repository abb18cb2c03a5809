/**
 * Server client secrets: 256 random bits shown once, stored only as a salted scrypt hash.
 * Verification runs scrypt on libuv's thread pool and compares in constant time.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import type { ClientAuthMethod } from "./client-method.js";

const PREFIX = "cbs_";
/** scrypt cost: N=2^15, r=8, p=1 is about 30-60 ms and 32 MiB per hash on current CPUs. */
const DEFAULT_COST: Required<Pick<ScryptOptions, "N" | "r" | "p">> = { N: 2 ** 15, r: 8, p: 1 };
const KEY_BYTES = 32;

export function generateClientSecret(): string {
  return PREFIX + randomBytes(32).toString("base64url");
}

function scryptAsync(secret: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_BYTES, { ...cost, maxmem: 128 * cost.N * cost.r * 2 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** Hash format: `scrypt$N$r$p$<salt b64url>$<hash b64url>`. */
export async function hashClientSecret(secret: string, cost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, cost);
  return ["scrypt", cost.N, cost.r, cost.p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** True when `secret` matches `stored`; false for any malformed stored hash (never throws). */
async function verifyClientSecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  const expected = Buffer.from(parts[5]!, "base64url");
  if (expected.length !== KEY_BYTES) return false;
  const actual = await scryptAsync(secret, Buffer.from(parts[4]!, "base64url"), { N, r, p });
  return timingSafeEqual(actual, expected);
}

/**
 * A hash of a random secret that matches nothing, verified when the client id is unknown so
 * that an unknown id and a wrong secret take the same time.
 */
let decoyHash: Promise<string> | undefined;
function decoyClientSecretHash(): Promise<string> {
  decoyHash ??= hashClientSecret(generateClientSecret());
  return decoyHash;
}

/**
 * RFC 6749 `client_secret` (sent in the body): matched against every active secret hash of the
 * server. An unknown client costs one scrypt of a decoy hash, so it takes as long as a wrong secret.
 */
export const clientSecretMethod: ClientAuthMethod<"client_secret"> = {
  name: "client_secret",
  field: "client_secret",
  presentedIn: (request) => typeof request.client_secret === "string",
  requestProblem: () => undefined,
  async authenticate(request, credentials) {
    const secret = request.client_secret ?? "";
    const hashes = credentials.flatMap((c) => (c.kind === "client_secret" && c.secretHash ? [c.secretHash] : []));
    let authenticated = false;
    for (const hash of hashes.length > 0 ? hashes : [await decoyClientSecretHash()]) {
      if ((await verifyClientSecret(secret, hash)) && hashes.length > 0) authenticated = true;
    }
    return { authenticated };
  },
};
