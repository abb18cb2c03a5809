/**
 * Signed checkpoints of the audit chain's head (like CloudTrail's digest files): `{seq, hash,
 * time, key_id}` signed with the broker's Ed25519 checkpoint key and kept outside the database
 * (checkpoint-sinks.ts). What a checkpoint signed can no longer be truncated, rolled back or
 * recomputed without the difference showing (verify.ts).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import type { ChainHead } from "./chain.js";

/** One checkpoint as written to a sink and read back: JSON, one object per line in a file. */
export interface SignedCheckpoint {
  seq: number;
  hash: string;
  /** ISO 8601 time of signing. */
  time: string;
  key_id: string;
  /** Ed25519 signature of `checkpointText(...)`, base64url. */
  signature: string;
}

/** The shape a checkpoint must have to be considered at all (from a file, a request body). */
export const signedCheckpointSchema = z
  .object({
    seq: z.number().int().min(1),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    time: z.string().min(1).max(64),
    key_id: z.string().min(1).max(64),
    signature: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  })
  .strict();

/** Public checkpoint keys by key id. */
export type CheckpointPublicKeys = ReadonlyMap<string, KeyObject>;

/** The exact bytes a checkpoint's signature covers: a fixed-order JSON array with a purpose label. */
function checkpointText(checkpoint: Omit<SignedCheckpoint, "signature">): string {
  return JSON.stringify(["credbroker audit checkpoint v1", checkpoint.seq, checkpoint.hash, checkpoint.time, checkpoint.key_id]);
}

// The fixed DER prefix of a PKCS#8 Ed25519 private key (RFC 8410): what precedes the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** The broker's checkpoint signing key: an Ed25519 key pair and its id. */
export class CheckpointSigner {
  readonly #privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** base64url of the first 16 bytes of SHA-256 of the raw public key. */
  readonly keyId: string;

  /** From the 32-byte Ed25519 seed kept sealed in broker_meta (`audit_checkpoint_key`). */
  constructor(seed: Uint8Array) {
    if (seed.byteLength !== 32) throw new TypeError("an Ed25519 seed is 32 bytes");
    this.#privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
    this.publicKey = createPublicKey(this.#privateKey);
    this.keyId = checkpointKeyId(this.publicKey);
  }

  /** Signs `head` at `timeMs` (epoch milliseconds). */
  sign(head: ChainHead, timeMs: number): SignedCheckpoint {
    const unsigned = { seq: head.seq, hash: head.hash, time: new Date(timeMs).toISOString(), key_id: this.keyId };
    return { ...unsigned, signature: sign(null, Buffer.from(checkpointText(unsigned)), this.#privateKey).toString("base64url") };
  }

  /** Signs other statements the broker makes about its chain (archive segments): base64url. `text` must carry its own purpose label. */
  signText(text: string): string {
    return sign(null, Buffer.from(text), this.#privateKey).toString("base64url");
  }

  /** The public key as PEM (SPKI), for `audit verify --public-key`. */
  publicKeyPem(): string {
    return this.publicKey.export({ type: "spki", format: "pem" }).toString();
  }

  toJSON(): string {
    return `[checkpoint signer ${this.keyId}]`;
  }
}

/** A public key's checkpoint key id. */
export function checkpointKeyId(publicKey: KeyObject): string {
  const raw = publicKey.export({ format: "jwk" }).x ?? "";
  return createHash("sha256").update(Buffer.from(raw, "base64url")).digest().subarray(0, 16).toString("base64url");
}

/** Reads a PEM public key (an Ed25519 SPKI) into the key-id map verify expects; a wrong key type is a TypeError. */
export function publicKeysFromPem(pems: readonly string[]): CheckpointPublicKeys {
  const keys = new Map<string, KeyObject>();
  for (const pem of pems) {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== "ed25519") throw new TypeError("a checkpoint public key is an Ed25519 key");
    keys.set(checkpointKeyId(key), key);
  }
  return keys;
}

/** True when `checkpoint` is signed by the key its key_id names, among `keys`. Never throws. */
export function checkpointSignatureValid(checkpoint: SignedCheckpoint, keys: CheckpointPublicKeys): boolean {
  const { signature, ...unsigned } = checkpoint;
  return textSignatureValid(checkpointText(unsigned), checkpoint.key_id, signature, keys);
}

/** True when `signature` over `text` verifies with the key `keyId` names among `keys`. Never throws. */
export function textSignatureValid(text: string, keyId: string, signature: string, keys: CheckpointPublicKeys): boolean {
  const key = keys.get(keyId);
  if (!key) return false;
  try {
    return verify(null, Buffer.from(text), key, Buffer.from(signature, "base64url"));
  } catch {
    return false;
  }
}

/**
 * Parses checkpoint JSON lines (a file sink's file). Blank lines are skipped; a line that is not
 * a checkpoint is reported with its number, never silently dropped.
 */
export function parseCheckpointLines(text: string): { checkpoints: SignedCheckpoint[]; problems: string[] } {
  const checkpoints: SignedCheckpoint[] = [];
  const problems: string[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      problems.push(`line ${index + 1}: not JSON`);
      return;
    }
    const parsed = signedCheckpointSchema.safeParse(value);
    if (parsed.success) checkpoints.push(parsed.data);
    else problems.push(`line ${index + 1}: not a checkpoint (${parsed.error.issues.map((issue) => issue.path.join(".") || "(root)").join(", ")})`);
  });
  return { checkpoints, problems };
}
