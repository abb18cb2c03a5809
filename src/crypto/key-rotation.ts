/**
 * `keys rotate`: a new master key becomes active, then every data key (secret versions, signing
 * keys, the audit HMAC key) is re-wrapped under it in small batches while the broker serves.
 * Old keys stay in the ring, so a row not yet re-wrapped still opens; each re-wrap is a
 * compare-and-set on the key id, so a concurrent write is never overwritten.
 */
import type { Store } from "../store/store.js";
import type { Envelope } from "./envelope.js";
import { signingKeyEnvelopePath } from "../auth/signing-keys.js";
import type { SealedMeta } from "./sealed-meta.js";

export interface RotationProgress {
  keyId: string;
  rewrapped: number;
}

export async function rotateMasterKey(
  deps: {
    store: Pick<Store, "versionsNotWrappedBy" | "rewrapVersion" | "listSigningKeys" | "rewrapSigningKey">;
    envelope: Envelope;
    sealedMeta: SealedMeta;
  },
  onProgress: (progress: RotationProgress) => void = () => {},
  batchSize = 200,
): Promise<RotationProgress> {
  const { store, envelope } = deps;
  const keyId = envelope.rotateMasterKey();
  let rewrapped = 0;
  for (;;) {
    const batch = await store.versionsNotWrappedBy(keyId, batchSize);
    if (batch.length === 0) break;
    for (const row of batch) {
      const sealed = envelope.rewrap({ path: row.path, version: row.version }, row);
      if (await store.rewrapVersion(row.path, row.version, row.keyId, sealed.keyId, sealed.wrappedKey)) rewrapped += 1;
    }
    onProgress({ keyId, rewrapped });
    // Yield to the event loop so requests keep being served between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const row of await store.listSigningKeys()) {
    if (row.keyId === keyId) continue;
    const sealed = envelope.rewrap(
      { path: signingKeyEnvelopePath(row.kid), version: 1 },
      { keyId: row.keyId, wrappedKey: row.wrappedKey, ciphertext: row.privateJwkCiphertext },
    );
    if (await store.rewrapSigningKey(row.kid, row.keyId, sealed.keyId, sealed.wrappedKey)) rewrapped += 1;
  }
  rewrapped += await deps.sealedMeta.rewrapAll();
  onProgress({ keyId, rewrapped });
  return { keyId, rewrapped };
}
