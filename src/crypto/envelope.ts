/**
 * Envelope encryption of secret values: a fresh AES-256-GCM data key per version encrypts the
 * value; the master key (by id) wraps the data key. Both layers bind the row's identity (path and
 * version) as associated data, so a ciphertext or wrapped key moved to another row fails to open.
 *
 * Layout of each sealed blob: 12-byte IV || ciphertext || 16-byte tag.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { BrokerError } from "../errors.js";
import type { MasterKeyRing } from "./master-key.js";

const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealed {
  keyId: string;
  wrappedKey: Buffer;
  ciphertext: Buffer;
}

/** Identifies what a blob belongs to; becomes GCM associated data. */
export interface EnvelopeContext {
  path: string;
  version: number;
}

function associatedData(layer: "value" | "key", context: EnvelopeContext): Buffer {
  return Buffer.from(`credbroker/v1/${layer}\u0000${context.path}\u0000${context.version}`, "utf8");
}

export function aeadSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

export function aeadOpen(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < IV_BYTES + TAG_BYTES) throw new Error("sealed blob too short");
  const decipher = createDecipheriv("aes-256-gcm", key, blob.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
}

/** Unwrapped data keys kept for reads, per broker process (see `open`). */
const DATA_KEY_CACHE_ENTRIES = 10_000;

export class Envelope {
  private readonly dataKeys = new Map<string, Buffer>();

  constructor(private readonly ring: MasterKeyRing) {}

  seal(context: EnvelopeContext, plaintext: Buffer): Sealed {
    const dataKey = randomBytes(32);
    try {
      const keyId = this.ring.activeKeyId;
      return {
        keyId,
        wrappedKey: aeadSeal(this.ring.key(keyId), dataKey, associatedData("key", context)),
        ciphertext: aeadSeal(dataKey, plaintext, associatedData("value", context)),
      };
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Decrypts; a wrong key, a moved row or a tampered blob all throw the same opaque error.
   *
   * Unwrapped data keys are cached (bounded), so a read costs one AES-GCM operation instead of
   * two; the master key that unwraps them is in this process's memory anyway. The cache key holds
   * the wrapped key itself, so a changed or tampered wrapped key is unwrapped (and checked) again.
   */
  open(context: EnvelopeContext, sealed: Sealed): Buffer {
    const cacheKey = `${sealed.keyId}\u0000${context.path}\u0000${context.version}\u0000${sealed.wrappedKey.toString("base64")}`;
    try {
      let dataKey = this.dataKeys.get(cacheKey);
      if (!dataKey) {
        dataKey = aeadOpen(this.ring.key(sealed.keyId), sealed.wrappedKey, associatedData("key", context));
        if (this.dataKeys.size >= DATA_KEY_CACHE_ENTRIES) this.forgetDataKeys();
        this.dataKeys.set(cacheKey, dataKey);
      }
      return aeadOpen(dataKey, sealed.ciphertext, associatedData("value", context));
    } catch (error) {
      throw new BrokerError("internal", "a stored value could not be decrypted", {
        detail: `envelope open failed for ${context.path} v${context.version}: ${String(error)}`,
      });
    }
  }

  /** Wipes and drops every cached data key. */
  forgetDataKeys(): void {
    for (const key of this.dataKeys.values()) key.fill(0);
    this.dataKeys.clear();
  }

  /** Re-wraps the data key under the active master key; the value ciphertext is untouched. */
  rewrap(context: EnvelopeContext, sealed: Sealed): Sealed {
    const aad = associatedData("key", context);
    const dataKey = aeadOpen(this.ring.key(sealed.keyId), sealed.wrappedKey, aad);
    try {
      const keyId = this.ring.activeKeyId;
      return { keyId, wrappedKey: aeadSeal(this.ring.key(keyId), dataKey, aad), ciphertext: sealed.ciphertext };
    } finally {
      dataKey.fill(0);
    }
  }

  get activeKeyId(): string {
    return this.ring.activeKeyId;
  }

  rotateMasterKey(): string {
    this.forgetDataKeys();
    return this.ring.rotate();
  }
}
