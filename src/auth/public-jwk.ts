/** Validation of public keys servers register for private_key_jwt. */
import type { JWK } from "jose";
import { BrokerError } from "../errors.js";

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"] as const;

/** Accepts an OKP (Ed25519), EC (P-256/P-384) or RSA (>= 2048 bit) public JWK; rejects private material. */
export function validatePublicJwk(jwk: JWK): JWK {
  if (!jwk || typeof jwk !== "object") throw new BrokerError("invalid_request", "public_jwk must be a JWK object");
  for (const member of PRIVATE_MEMBERS) {
    if (member in jwk) throw new BrokerError("invalid_request", `public_jwk contains private key material ("${member}"); register the public key only`);
  }
  const ok =
    (jwk.kty === "OKP" && jwk.crv === "Ed25519" && typeof jwk.x === "string") ||
    (jwk.kty === "EC" && (jwk.crv === "P-256" || jwk.crv === "P-384") && typeof jwk.x === "string" && typeof jwk.y === "string") ||
    (jwk.kty === "RSA" && typeof jwk.n === "string" && typeof jwk.e === "string" && Buffer.from(jwk.n, "base64url").length >= 256);
  if (!ok) throw new BrokerError("invalid_request", "public_jwk must be an Ed25519, P-256, P-384 or RSA (2048+ bit) public key");
  const { kty, crv, x, y, n, e, kid, alg } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e, kid, alg }).filter(([, value]) => value !== undefined)) as JWK;
}
