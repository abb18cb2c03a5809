/** Audit records as they leave the broker (JSON), and keyed token references. The hash chain is chain.ts. */
import * as crypto from "node:crypto";
import type { AuditRecord } from "../domain.js";

// Earlier callers (bench/) import the chain's field order from here.
export { chainFieldValues, type AuditFieldValues } from "./chain.js";

/** Keyed reference to a token (id or value) for the audit trail: correlatable, not reversible. */
export function tokenReference(hmacKey: Buffer, token: string): string {
  return crypto.createHmac("sha256", hmacKey).update(token).digest("hex").slice(0, 32);
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
