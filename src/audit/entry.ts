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
const clip = (text: string) => (text.length > MAX_FIELD ? `${text.slice(0, MAX_FIELD)}…` : text);

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
    requestId: meta.requestId,
    sourceIp: meta.sourceIp,
    tokenRef: actor.tokenRef ?? null,
  };
}
