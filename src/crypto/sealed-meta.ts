/**
 * Small broker-internal secrets kept in broker_meta, envelope-encrypted (e.g. the HMAC key that
 * pseudonymises token ids in the audit trail). Created on first use.
 */
import { randomBytes } from "node:crypto";
import type { Store } from "../store/store.js";
import type { Envelope } from "./envelope.js";

interface StoredSealed {
  keyId: string;
  wrappedKey: string;
  ciphertext: string;
}

const NAMES = ["audit_hmac_key"] as const;
export type SealedMetaName = (typeof NAMES)[number];

export class SealedMeta {
  constructor(
    private readonly store: Pick<Store, "getMeta" | "setMeta">,
    private readonly envelope: Envelope,
  ) {}

  /** The value under `name`, generating `bytes` random bytes on first use. */
  async getOrCreate(name: SealedMetaName, bytes: number): Promise<Buffer> {
    const stored = await this.store.getMeta(`sealed:${name}`);
    const context = { path: `meta/${name}`, version: 1 };
    if (stored) {
      const sealed = JSON.parse(stored) as StoredSealed;
      return this.envelope.open(context, {
        keyId: sealed.keyId,
        wrappedKey: Buffer.from(sealed.wrappedKey, "base64"),
        ciphertext: Buffer.from(sealed.ciphertext, "base64"),
      });
    }
    const value = randomBytes(bytes);
    await this.save(name, this.envelope.seal(context, value));
    return value;
  }

  /** Re-wraps every sealed entry under the active master key; returns how many changed. */
  async rewrapAll(): Promise<number> {
    let count = 0;
    for (const name of NAMES) {
      const stored = await this.store.getMeta(`sealed:${name}`);
      if (!stored) continue;
      const sealed = JSON.parse(stored) as StoredSealed;
      if (sealed.keyId === this.envelope.activeKeyId) continue;
      const rewrapped = this.envelope.rewrap(
        { path: `meta/${name}`, version: 1 },
        { keyId: sealed.keyId, wrappedKey: Buffer.from(sealed.wrappedKey, "base64"), ciphertext: Buffer.from(sealed.ciphertext, "base64") },
      );
      await this.save(name, rewrapped);
      count += 1;
    }
    return count;
  }

  private save(name: SealedMetaName, sealed: { keyId: string; wrappedKey: Buffer; ciphertext: Buffer }): Promise<void> {
    const stored: StoredSealed = { keyId: sealed.keyId, wrappedKey: sealed.wrappedKey.toString("base64"), ciphertext: sealed.ciphertext.toString("base64") };
    return this.store.setMeta(`sealed:${name}`, JSON.stringify(stored));
  }
}
