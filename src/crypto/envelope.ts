/**
 * Envelope encryption of secret values: a fresh AES-256-GCM data key per version encrypts the
 * value; the master key (by id) wraps the data key. Both layers bind the row's identity (path and
 * version) as associated data, so a ciphertext or wrapped key moved to another row fails to open.
 *
 * Layout of each sealed blob: 12-byte IV || ciphertext || 16-byte tag.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
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

export function aeadOpen(key: Buffer | KeyObject, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < IV_BYTES + TAG_BYTES) throw new Error("sealed blob too short");
  const decipher = createDecipheriv("aes-256-gcm", key, blob.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  const plaintext = decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES));
  decipher.final(); // GCM yields no more bytes here; this checks the tag and throws when it fails
  return plaintext;
}

function openFailed(context: EnvelopeContext, error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  return new BrokerError("internal", "a stored value could not be decrypted", {
    detail: `envelope open failed for ${context.path} v${context.version}: ${String(error)}`,
  });
}

/** Unwrapped data keys kept for reads, per broker process (see `open`). */
const DATA_KEY_CACHE_ENTRIES = 10_000;

/** A data key already unwrapped for one row, with that row's value AAD, found by the wrapped key's Buffer. */
interface OpenedRow {
  keyId: string;
  path: string;
  version: number;
  dataKey: KeyObject;
  valueAad: Buffer;
  generation: number;
}

export class Envelope {
  private readonly dataKeys = new Map<string, KeyObject>();
  /**
   * In front of `dataKeys`: rows served from the store's row cache are the same objects each
   * time, so their wrapped-key Buffer finds the data key without building the long cache key.
   * A row read afresh (changed, tampered) has a new Buffer and takes the checked path.
   */
  private readonly openedRows = new WeakMap<Buffer, OpenedRow>();
  /** Bumped when the data keys are wiped, so older `openedRows` entries no longer count. */
  private generation = 0;

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
   * two; the master key that unwraps them is in this process's memory anyway. They are kept as
   * KeyObjects: a decipher built from one skips importing raw key bytes (about a quarter of the
   * operation's cost for a short value). The cache key holds the wrapped key itself, so a changed
   * or tampered wrapped key is unwrapped (and checked) again.
   */
  open(context: EnvelopeContext, sealed: Sealed): Buffer {
    const opened = this.openedRows.get(sealed.wrappedKey);
    if (
      opened &&
      opened.generation === this.generation &&
      opened.keyId === sealed.keyId &&
      opened.path === context.path &&
      opened.version === context.version
    ) {
      return this.openValue(opened.dataKey, sealed.ciphertext, opened.valueAad, context);
    }
    const cacheKey = `${sealed.keyId}\u0000${context.path}\u0000${context.version}\u0000${sealed.wrappedKey.toString("base64")}`;
    try {
      let dataKey = this.dataKeys.get(cacheKey);
      if (!dataKey) {
        const raw = aeadOpen(this.ring.key(sealed.keyId), sealed.wrappedKey, associatedData("key", context));
        dataKey = createSecretKey(raw);
        raw.fill(0);
        if (this.dataKeys.size >= DATA_KEY_CACHE_ENTRIES) this.forgetDataKeys();
        this.dataKeys.set(cacheKey, dataKey);
      }
      const valueAad = associatedData("value", context);
      const plaintext = this.openValue(dataKey, sealed.ciphertext, valueAad, context);
      const { path, version } = context;
      this.openedRows.set(sealed.wrappedKey, { keyId: sealed.keyId, path, version, dataKey, valueAad, generation: this.generation });
      return plaintext;
    } catch (error) {
      throw openFailed(context, error);
    }
  }

  private openValue(dataKey: KeyObject, ciphertext: Buffer, valueAad: Buffer, context: EnvelopeContext): Buffer {
    try {
      return aeadOpen(dataKey, ciphertext, valueAad);
    } catch (error) {
      throw openFailed(context, error);
    }
  }

  /** Drops every cached data key (KeyObjects hold their bytes outside the JS heap: freed, not wiped). */
  forgetDataKeys(): void {
    this.dataKeys.clear();
    this.generation += 1;
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
