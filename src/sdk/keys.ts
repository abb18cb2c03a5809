/**
 * Private keys for RFC 7523 client assertions: a PEM (PKCS#8, SEC1 or PKCS#1) or a JWK, from a
 * file or in memory. The signing algorithm comes from the JWK's `alg`, else from the key type.
 */
import { createPrivateKey, KeyObject as NodeKeyObject, type webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { types } from "node:util";
import type { CryptoKey, JWK, KeyObject } from "jose";
import { BrokerClientError } from "./errors.js";

/** Algorithms the broker accepts for client assertions. */
export type AssertionAlgorithm = "EdDSA" | "ES256" | "ES384" | "PS256" | "RS256";
const ALGORITHMS: readonly string[] = ["EdDSA", "ES256", "ES384", "PS256", "RS256"];

/**
 * The exported types name keys with jose's structural `KeyObject` and `CryptoKey`, not
 * node:crypto's: the published declarations then compile in a consumer project that has no
 * `@types/node` in its `types` (TypeScript 7's default is none). Values are checked at run time.
 */
export interface SigningKey {
  key: CryptoKey | KeyObject;
  alg: AssertionAlgorithm;
  /** The key id sent in the assertion header, so the broker picks the right registered key. */
  kid: string | undefined;
}

/** A private key as the options accept it: a Node KeyObject, a WebCrypto CryptoKey, or a private JWK. */
export type PrivateKeyInput = KeyObject | CryptoKey | JWK;

function isJwk(value: PrivateKeyInput): value is JWK {
  return typeof (value as JWK).kty === "string";
}

/** A Node KeyObject or a WebCrypto CryptoKey of this process; anything else is not a key we can sign with. */
function isRuntimeKey(value: unknown): value is NodeKeyObject | webcrypto.CryptoKey {
  return types.isKeyObject(value) || types.isCryptoKey(value);
}

/** Reads a PEM or JWK (JSON) private key file. Throws `invalid_configuration` naming the file, never its content. */
export async function readSigningKeyFile(file: string, overrides: { alg?: AssertionAlgorithm; kid?: string } = {}): Promise<SigningKey> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new BrokerClientError("invalid_configuration", `cannot read the private key file ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(trimmed) as JWK;
    } catch {
      throw new BrokerClientError("invalid_configuration", `the private key file ${file} is neither a PEM nor a JWK`);
    }
    return signingKey(jwk, overrides, file);
  }
  let key: NodeKeyObject;
  try {
    key = createPrivateKey(trimmed);
  } catch {
    throw new BrokerClientError("invalid_configuration", `the private key file ${file} does not hold a PEM private key`);
  }
  return signingKey(key, overrides, file);
}

/** Prepares an in-memory key for signing. */
export async function signingKey(input: PrivateKeyInput, overrides: { alg?: AssertionAlgorithm; kid?: string } = {}, source = "privateKey"): Promise<SigningKey> {
  if (isJwk(input)) {
    if (typeof input.d !== "string") throw new BrokerClientError("invalid_configuration", `${source} is a public JWK; a private key is needed`);
    const alg = overrides.alg ?? (typeof input.alg === "string" ? input.alg : algorithmForJwk(input));
    if (!alg || !ALGORITHMS.includes(alg)) throw new BrokerClientError("invalid_configuration", `${source}: unsupported key type for a client assertion (use Ed25519, P-256, P-384 or RSA)`);
    const { importJWK } = await import("jose");
    const key = await importJWK(input, alg);
    if (key instanceof Uint8Array) throw new BrokerClientError("invalid_configuration", `${source}: symmetric keys are not accepted`);
    return { key, alg: alg as AssertionAlgorithm, kid: overrides.kid ?? input.kid };
  }
  if (!isRuntimeKey(input)) throw new BrokerClientError("invalid_configuration", `${source} is neither a KeyObject, a CryptoKey nor a JWK`);
  const alg = overrides.alg ?? algorithmForKey(input);
  if (!alg) throw new BrokerClientError("invalid_configuration", `${source}: unsupported key type for a client assertion (use Ed25519, P-256, P-384 or RSA)`);
  return { key: input, alg, kid: overrides.kid };
}

function algorithmForJwk(jwk: JWK): AssertionAlgorithm | undefined {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "EC" && jwk.crv === "P-384") return "ES384";
  if (jwk.kty === "RSA") return "RS256";
  return undefined;
}

function algorithmForKey(key: NodeKeyObject | webcrypto.CryptoKey): AssertionAlgorithm | undefined {
  if (key instanceof NodeKeyObject) {
    if (key.type !== "private") return undefined;
    switch (key.asymmetricKeyType) {
      case "ed25519":
        return "EdDSA";
      case "ec": {
        const curve = key.asymmetricKeyDetails?.namedCurve;
        return curve === "prime256v1" || curve === "P-256" ? "ES256" : curve === "secp384r1" || curve === "P-384" ? "ES384" : undefined;
      }
      case "rsa":
        return "RS256";
      case "rsa-pss":
        return "PS256";
      default:
        return undefined;
    }
  }
  const algorithm = key.algorithm as { name: string; namedCurve?: string };
  if (key.type !== "private") return undefined;
  if (algorithm.name === "Ed25519") return "EdDSA";
  if (algorithm.name === "ECDSA") return algorithm.namedCurve === "P-256" ? "ES256" : algorithm.namedCurve === "P-384" ? "ES384" : undefined;
  if (algorithm.name === "RSASSA-PKCS1-v1_5") return "RS256";
  if (algorithm.name === "RSA-PSS") return "PS256";
  return undefined;
}
