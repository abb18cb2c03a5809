/** The audit hash chain: each record's hash covers its fields and the previous record's hash. */
import { createHash, createHmac } from "node:crypto";
import type { AuditEntry, AuditRecord } from "../domain.js";

/** SHA-256 over a fixed-order JSON array of every field, so no two records can hash alike by reordering keys. */
export function chainHash(prevHash: string, seq: number, entry: AuditEntry): string {
  const canonical = JSON.stringify([
    seq,
    entry.time,
    entry.actor,
    entry.actorKind,
    entry.action,
    entry.resource,
    entry.outcome,
    entry.reason,
    entry.leaseId,
    entry.version,
    entry.requestId,
    entry.sourceIp,
    entry.tokenRef,
    prevHash,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

/** Keyed reference to a token (id or value) for the audit trail: correlatable, not reversible. */
export function tokenReference(hmacKey: Buffer, token: string): string {
  return createHmac("sha256", hmacKey).update(token).digest("hex").slice(0, 32);
}

/** The JSON shape of a record in the API and exports (snake_case as in SPEC). */
export function auditRecordToJson(record: AuditRecord) {
  return {
    seq: record.seq,
    time: new Date(record.time).toISOString(),
    actor: record.actor,
    actor_kind: record.actorKind,
    action: record.action,
    resource: record.resource,
    outcome: record.outcome,
    reason: record.reason,
    lease_id: record.leaseId,
    version: record.version,
    request_id: record.requestId,
    source_ip: record.sourceIp,
    token_ref: record.tokenRef,
    prev_hash: record.prevHash,
    hash: record.hash,
  };
}
export type AuditRecordJson = ReturnType<typeof auditRecordToJson>;
