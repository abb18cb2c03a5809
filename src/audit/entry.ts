/** Builds audit entries from a request's facts, so every caller fills the same fields the same way. */
import type { ActorKind, AuditEntry, AuditOutcome, RequestMeta } from "../domain.js";

export interface Actor {
  id: string;
  kind: ActorKind;
  /** HMAC reference of the credential used, when there is one. */
  tokenRef?: string | null;
}

export interface EntryFields {
  action: string;
  resource: string;
  outcome: AuditOutcome;
  reason: string;
  leaseId?: string | null;
  version?: number | null;
}

/** Longest resource or reason kept in a record; longer (attacker-supplied) text is cut. */
const MAX_FIELD = 300;

/**
 * Attacker-supplied text made storable as is: cut to MAX_FIELD, lone UTF-16 surrogates replaced
 * (a database would silently rewrite them, breaking the record's hash) and NUL removed (PostgreSQL
 * text cannot hold it, and one bad record must not fail a whole group commit).
 */
export function clip(text: string): string {
  const cut = text.length > MAX_FIELD ? `${text.slice(0, MAX_FIELD)}…` : text;
  // The checks first: nearly every field is already storable, and this runs for each of them.
  const wellFormed = cut.isWellFormed() ? cut : cut.toWellFormed();
  return wellFormed.includes("\u0000") ? wellFormed.replace(/\u0000/g, "\uFFFD") : wellFormed;
}
const clipOrNull = (text: string | null) => (text === null ? null : clip(text));

export function auditEntry(actor: Actor, meta: RequestMeta, fields: EntryFields, now: number): AuditEntry {
  return {
    time: now,
    actor: clip(actor.id),
    actorKind: actor.kind,
    action: fields.action,
    resource: clip(fields.resource),
    outcome: fields.outcome,
    reason: clip(fields.reason),
    leaseId: fields.leaseId ?? null,
    version: fields.version ?? null,
    requestId: clipOrNull(meta.requestId),
    sourceIp: clipOrNull(meta.sourceIp),
    tokenRef: actor.tokenRef ?? null,
  };
}
