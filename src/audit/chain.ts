/**
 * The audit hash chain, in one place: what a record's hash covers, how it is computed, and the
 * committed record it yields. Every writer (both store dialects, the SQLite committer thread) and
 * verify.ts use this module, so the chain cannot be computed two ways.
 *
 * Format (unchanged since the first record was written): record `seq` has
 * `hash = SHA-256 hex of the JSON text [seq, ...chainFieldValues(entry), prevHash]`, and the first
 * record chains onto GENESIS_HASH. Keying the chain (an HMAC instead of SHA-256) means changing
 * `digest` below and nothing else.
 */
import * as crypto from "node:crypto";
import type { AuditEntry, AuditRecord } from "../domain.js";

/** prev_hash of the first audit record. */
export const GENESIS_HASH = "0".repeat(64);

// One-shot hashing (Node >= 20.12) skips building a Hash object per record; older 20.x falls back.
const digest: (text: string) => string =
  typeof crypto.hash === "function"
    ? (text) => crypto.hash("sha256", text, "hex")
    : (text) => crypto.createHash("sha256").update(text).digest("hex");

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

/**
 * The hash of record `seq` given `fieldsJson`, the JSON text of its `chainFieldValues`. A fixed
 * order, so no two records can hash alike by reordering keys. Takes the JSON text so that a writer
 * holding only the field values (the committer thread) hashes without building an entry.
 */
export function chainHashOfFields(prevHash: string, seq: number, fieldsJson: string): string {
  return digest(`[${seq},${fieldsJson.slice(1, -1)},${JSON.stringify(prevHash)}]`);
}

/** The hash of record `seq` holding `entry`, chained onto `prevHash`. */
export function chainHash(prevHash: string, seq: number, entry: AuditEntry): string {
  return chainHashOfFields(prevHash, seq, JSON.stringify(chainFieldValues(entry)));
}

/** The committed form of an entry. Spelled out field by field: a spread here was a hot spot. */
export function chainedRecord(entry: AuditEntry, seq: number, prevHash: string, hash: string): AuditRecord {
  return {
    seq,
    time: entry.time,
    actor: entry.actor,
    actorKind: entry.actorKind,
    action: entry.action,
    resource: entry.resource,
    outcome: entry.outcome,
    reason: entry.reason,
    leaseId: entry.leaseId,
    version: entry.version,
    requestId: entry.requestId,
    sourceIp: entry.sourceIp,
    tokenRef: entry.tokenRef,
    prevHash,
    hash,
  };
}

/** The chain's last record: where the next append continues. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Chains `entries` onto `head` (undefined: the empty log), returning the records to insert. */
export function extendChain(head: ChainHead | undefined, entries: AuditEntry[]): AuditRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  return entries.map((entry) => {
    seq += 1;
    const record = chainedRecord(entry, seq, prevHash, chainHash(prevHash, seq, entry));
    prevHash = record.hash;
    return record;
  });
}
