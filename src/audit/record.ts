/** The audit hash chain: each record's hash covers its fields and the previous record's hash. */
import * as crypto from "node:crypto";
import type { AuditEntry, AuditRecord } from "../domain.js";

// One-shot hashing (Node >= 20.12) skips building a Hash object per record; older 20.x falls back.
const sha256Hex: (text: string) => string =
  typeof crypto.hash === "function"
    ? (text) => crypto.hash("sha256", text, "hex")
    : (text) => crypto.createHash("sha256").update(text).digest("hex");

/** An entry's fields in chain order: what a record's hash covers besides seq and prevHash. */
export function chainFieldValues(entry: AuditEntry): AuditFieldValues {
  return [
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
  ];
}

export type AuditFieldValues = [
  time: number,
  actor: string,
  actorKind: string,
  action: string,
  resource: string,
  outcome: string,
  reason: string,
  leaseId: string | null,
  version: number | null,
  requestId: string | null,
  sourceIp: string | null,
  tokenRef: string | null,
];

/**
 * SHA-256 (hex) over the JSON array `[seq, ...chainFieldValues(entry), prevHash]`, given `fields`,
 * the JSON text of the values. A fixed order, so no two records can hash alike by reordering
 * keys. The SQLite committer thread builds the same text (see store/sqlite-committer.ts); tests
 * hold the two to the same bytes.
 */
export function chainHashOfFields(prevHash: string, seq: number, fields: string): string {
  return sha256Hex(`[${seq},${fields.slice(1, -1)},${JSON.stringify(prevHash)}]`);
}

export function chainHash(prevHash: string, seq: number, entry: AuditEntry): string {
  return chainHashOfFields(prevHash, seq, JSON.stringify(chainFieldValues(entry)));
}

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
