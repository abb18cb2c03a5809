/**
 * `keys rotate`: a new master key becomes active, then every data key (secret versions, signing
 * keys, the audit HMAC key) is re-wrapped under it in small batches while the broker serves.
 * Old keys stay in the ring, so a row not yet re-wrapped still opens; each re-wrap is a
 * compare-and-set on the key id, so a concurrent write is never overwritten. The rotation is
 * audited (`admin.keys.rotate_master`) once every data key is re-wrapped.
 */
import { auditEntry, type Actor } from "../audit/entry.js";
import type { AuditWriter } from "../audit/writer.js";
import { signingKeyEnvelopePath } from "../auth/signing-keys.js";
import type { Envelope } from "../crypto/envelope.js";
import type { SealedMeta } from "../crypto/sealed-meta.js";
import type { RequestMeta } from "../domain.js";
import type { Store } from "../store/store.js";

export interface RotationProgress {
  keyId: string;
  rewrapped: number;
}

export interface MasterKeyRotationDeps {
  store: Pick<Store, "versionsNotWrappedBy" | "rewrapVersion" | "listSigningKeys" | "rewrapSigningKey">;
  envelope: Envelope;
  sealedMeta: SealedMeta;
  audit: Pick<AuditWriter, "record">;
  clock: () => number;
}

export interface MasterKeyRotationOptions {
  /** Told after each batch (the CLI shows it). */
  onProgress?: (progress: RotationProgress) => void;
  /** Rows re-wrapped between two yields to the event loop (default 200). */
  batchSize?: number;
}

/** Rotates the master key and re-wraps every data key; resolves once done and audited. */
export async function rotateMasterKey(deps: MasterKeyRotationDeps, actor: Actor, meta: RequestMeta, options: MasterKeyRotationOptions = {}): Promise<RotationProgress> {
  const { store, envelope } = deps;
  const { onProgress = () => {}, batchSize = 200 } = options;
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
  await deps.audit.record(auditEntry(actor, meta, { action: "admin.keys.rotate_master", resource: keyId, outcome: "allowed", reason: `${rewrapped} data keys re-wrapped` }, deps.clock()));
  return { keyId, rewrapped };
}
