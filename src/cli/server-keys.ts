/**
 * Key material for `private_key_jwt` on the operator's side: reading a public key to register
 * (PEM or JWK, never private material), and making a new Ed25519 pair whose private half stays
 * in a 0600 file on this machine.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { calculateJwkThumbprint, type JWK } from "jose";
import { CliError } from "./errors.js";

const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

/**
 * The public JWK in `file`: a JWK (JSON) or a PEM public key (SPKI, or a certificate's key).
 * Refuses private keys here, so private material never leaves the machine by mistake.
 */
export function readPublicKey(file: string): JWK {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (text.includes("PRIVATE KEY-----")) throw new CliError(`${file} holds a private key; register its public half (credbroker server keygen makes a pair)`);
  if (text.includes("-----BEGIN")) {
    let key: KeyObject;
    try {
      key = createPublicKey(text);
    } catch {
      throw new CliError(`${file} is not a PEM public key`);
    }
    return key.export({ format: "jwk" }) as JWK;
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is neither a PEM public key nor a JWK (JSON)`);
  }
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) throw new CliError(`${file} is not a JWK object`);
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw new CliError(`${file} holds a private key; register its public half`);
  return jwk as JWK;
}

export interface GeneratedKey {
  /** The public half, with `kid` (its RFC 7638 thumbprint) and `alg: EdDSA`. */
  publicJwk: JWK;
  kid: string;
  /** Removes the private key file again (when registering the public half failed). */
  discard(): void;
}

/**
 * Makes an Ed25519 pair and writes the private key (PKCS#8 PEM) to `file`, mode 0600, created
 * exclusively: an existing file is never overwritten. Its folder is created 0700 if missing.
 */
export async function generateKeyFile(file: string): Promise<GeneratedKey> {
  const pair = generateKeyPairSync("ed25519");
  const jwk = pair.publicKey.export({ format: "jwk" }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === "EEXIST" ? `${file} already exists; remove it or choose another --out` : `cannot create ${file} (${code ?? "error"})`);
  }
  try {
    writeSync(fd, pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  } finally {
    closeSync(fd);
  }
  return { publicJwk: { ...jwk, kid, alg: "EdDSA" }, kid, discard: () => unlinkSync(file) };
}
