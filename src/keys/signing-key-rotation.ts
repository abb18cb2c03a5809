/**
 * An operator rotates the token signing key: a new key signs from now on, the previous one keeps
 * verifying for the overlap (at least the token lifetime, so no token in flight is refused). The
 * rotation is audited (`admin.keys.rotate_signing`) and published (`signing_keys.changed`), so
 * every broker sharing the store loads the new key at once.
 */
import type { Actor } from "../audit/entry.js";
import { auditEntry } from "../audit/entry.js";
import type { AuditWriter } from "../audit/writer.js";
import type { RequestMeta } from "../domain.js";
import type { EventBus } from "../events/bus.js";
import type { SigningKeys } from "../auth/signing-keys.js";

export interface SigningKeyRotationDeps {
  signingKeys: Pick<SigningKeys, "rotate">;
  audit: Pick<AuditWriter, "record">;
  events: Pick<EventBus, "publish">;
  /** Seconds the previous key keeps verifying tokens. */
  overlapSeconds: number;
  clock: () => number;
}

/** Rotates the signing key; returns the new key's id once the rotation is audited. */
export async function rotateSigningKey(deps: SigningKeyRotationDeps, actor: Actor, meta: RequestMeta): Promise<{ kid: string }> {
  const kid = await deps.signingKeys.rotate(deps.overlapSeconds);
  deps.events.publish({ type: "signing_keys.changed", kid });
  await deps.audit.record(auditEntry(actor, meta, { action: "admin.keys.rotate_signing", resource: kid, outcome: "allowed", reason: "new signing key" }, deps.clock()));
  return { kid };
}
