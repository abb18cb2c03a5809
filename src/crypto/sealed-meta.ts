/**
 * Small broker-internal secrets kept in broker_meta, envelope-encrypted (e.g. the HMAC key that
 * pseudonymises token ids in the audit trail). Created on first use.
 */
import { randomBytes } from "node:crypto";
import type { Store } from "../store/store.js";
import type { Envelope, Sealed } from "./envelope.js";

interface StoredSealed {
  keyId: string;
  wrappedKey: string;
  ciphertext: string;
}

const NAMES = [
  "audit_hmac_key",
  // The HMAC key of client secrets (src/auth/client-secret.ts).
  "client_secret_hmac_key",
  // The Ed25519 seed of the audit checkpoint key (src/audit/checkpoint.ts).
  "audit_checkpoint_key",
] as const;
export type SealedMetaName = (typeof NAMES)[number];

export class SealedMeta {
  constructor(
    private readonly store: Pick<Store, "getMeta" | "setMeta" | "setMetaIfAbsent">,
    private readonly envelope: Envelope,
  ) {}

  /**
   * The value under `name`, generating `bytes` random bytes on first use. Brokers starting at
   * once on a fresh database agree on one value: only the first insert counts, the others read it.
   */
  async getOrCreate(name: SealedMetaName, bytes: number): Promise<Buffer> {
    const context = { path: `meta/${name}`, version: 1 };
    const stored = await this.store.getMeta(`sealed:${name}`);
    if (stored) return this.open(context, stored);
    const value = randomBytes(bytes);
    if (await this.store.setMetaIfAbsent(`sealed:${name}`, serialise(this.envelope.seal(context, value)))) return value;
    value.fill(0);
    const winner = await this.store.getMeta(`sealed:${name}`);
    if (!winner) throw new Error(`broker_meta sealed:${name} vanished while it was being created`);
    return this.open(context, winner);
  }

  private open(context: { path: string; version: number }, stored: string): Buffer {
    return this.envelope.open(context, deserialise(stored));
  }

  /** Re-wraps every sealed entry under the active master key; returns how many changed. */
  async rewrapAll(): Promise<number> {
    let count = 0;
    for (const name of NAMES) {
      const stored = await this.store.getMeta(`sealed:${name}`);
      if (!stored) continue;
      const sealed = deserialise(stored);
      if (sealed.keyId === this.envelope.activeKeyId) continue;
      const rewrapped = this.envelope.rewrap({ path: `meta/${name}`, version: 1 }, sealed);
      await this.save(name, rewrapped);
      count += 1;
    }
    return count;
  }

  private save(name: SealedMetaName, sealed: Sealed): Promise<void> {
    return this.store.setMeta(`sealed:${name}`, serialise(sealed));
  }
}

function deserialise(stored: string): Sealed {
  const sealed = JSON.parse(stored) as StoredSealed;
  return { keyId: sealed.keyId, wrappedKey: Buffer.from(sealed.wrappedKey, "base64"), ciphertext: Buffer.from(sealed.ciphertext, "base64") };
}

function serialise(sealed: Sealed): string {
  const stored: StoredSealed = { keyId: sealed.keyId, wrappedKey: sealed.wrappedKey.toString("base64"), ciphertext: sealed.ciphertext.toString("base64") };
  return JSON.stringify(stored);
}
