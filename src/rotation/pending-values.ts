import type { Envelope, EnvelopeContext } from "../crypto/envelope.js";
import { BrokerError } from "../errors.js";
import type { Store } from "../store/store.js";
import type { PendingValues } from "./strategy.js";

/**
 * The durable {@link PendingValues}: a rotation's pending value envelope-encrypted (a fresh data
 * key, wrapped by the active master key) in `rotation_pending_values`, a table no read path of
 * secret versions looks at, so the value cannot be served before finish makes it a version.
 *
 * The associated data binds the secret path and the rotation id (`<path>\0rotation\0<id>`,
 * version 0): a sealed value moved to another rotation or secret fails to open. Secret paths
 * hold no NUL and real versions start at 1, so it can never open as a secret version either.
 * The value is dropped by the store when the rotation ends (`endRotation`).
 */
export function storedPendingValues(deps: {
  store: Pick<Store, "getRotation" | "keepPendingValue" | "getPendingValue">;
  envelope: Pick<Envelope, "seal" | "open">;
  clock: () => number;
}): PendingValues {
  const { store, envelope, clock } = deps;

  async function contextOf(rotationId: string): Promise<EnvelopeContext> {
    const rotation = await store.getRotation(rotationId);
    if (rotation === undefined) throw new BrokerError("not_found", `rotation ${rotationId} does not exist`);
    return { path: `${rotation.secretPath}\u0000rotation\u0000${rotation.id}`, version: 0 };
  }

  async function read(rotationId: string): Promise<Buffer | undefined> {
    const row = await store.getPendingValue(rotationId);
    if (row === undefined) return undefined;
    return envelope.open(await contextOf(rotationId), row);
  }

  return {
    async keep(rotationId, value) {
      const sealed = envelope.seal(await contextOf(rotationId), value);
      // The first write wins (insert or nothing); what is stored now is the kept value.
      await store.keepPendingValue({ rotationId, ...sealed, createdAt: clock() });
      const kept = await read(rotationId);
      if (kept === undefined) throw new BrokerError("conflict", `rotation ${rotationId} ended while its value was being kept`);
      return kept;
    },
    read,
  };
}
