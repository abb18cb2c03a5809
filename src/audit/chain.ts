/**
 * The audit hash chain, in one place: what a record's hash covers, how it is computed, and the
 * committed record it yields. Every writer (both store dialects, the SQLite committer thread) and
 * verify.ts use this module, so the chain cannot be computed two ways.
 *
 * Format: record `seq` has `hash = HMAC-SHA-256 hex, under the broker's audit key, of the JSON
 * text [seq, ...chainFieldValues(entry), prevHash]`, and the first record chains onto
 * GENESIS_HASH (or onto the archive anchor once older records were archived). Records written
 * before the chain was keyed used plain SHA-256 of the same text (`plainChainHash`); where the
 * keyed part begins is the chain format marker (chain-format.ts), itself keyed.
 */
import * as crypto from "node:crypto";
import { inspect } from "node:util";
import type { AuditEntry, AuditRecord } from "../domain.js";

/** prev_hash of the first audit record. */
export const GENESIS_HASH = "0".repeat(64);

/** Bytes of the audit key. */
export const CHAIN_KEY_BYTES = 32;

/**
 * The key of the chain's HMAC. Holds its own copy of the bytes, and prints as `[audit chain key]`
 * in logs, JSON and inspection, so a logged object never carries it.
 */
export class ChainKey {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /**
   * The chain's key derived from the broker's audit key (`audit_hmac_key`, which also keys token
   * references): a separate HMAC key, so no HMAC the broker computes for another purpose (over
   * text a caller chose) can ever be a chain hash.
   */
  static derive(auditKey: Uint8Array): ChainKey {
    return new ChainKey(crypto.createHmac("sha256", auditKey).update("credbroker audit chain v1").digest());
  }

  /** A key from exactly CHAIN_KEY_BYTES bytes (copied); anything else is a programming error (TypeError). */
  static of(bytes: Uint8Array): ChainKey {
    if (bytes.byteLength !== CHAIN_KEY_BYTES) throw new TypeError(`the audit chain key must be ${CHAIN_KEY_BYTES} bytes`);
    return new ChainKey(Buffer.from(bytes));
  }

  /** HMAC-SHA-256 of `text`, hex. */
  mac(text: string): string {
    return crypto.createHmac("sha256", this.#key).update(text).digest("hex");
  }

  /** A fresh copy of the bytes, to hand to the committer thread (structured clone); never for output. */
  bytes(): Uint8Array {
    return new Uint8Array(this.#key);
  }

  toJSON(): string {
    return "[audit chain key]";
  }

  toString(): string {
    return "[audit chain key]";
  }

  [inspect.custom](): string {
    return "[audit chain key]";
  }
}

// One-shot hashing (Node >= 20.12) skips building a Hash object per record; older 20.x falls back.
const sha256: (text: string) => string =
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

/** The text a record's hash covers. A fixed order, so no two records can hash alike by reordering keys. */
function chainText(prevHash: string, seq: number, fieldsJson: string): string {
  return `[${seq},${fieldsJson.slice(1, -1)},${JSON.stringify(prevHash)}]`;
}

/**
 * The keyed hash of record `seq` given `fieldsJson`, the JSON text of its `chainFieldValues`.
 * Takes the JSON text so that a writer holding only the field values (the committer thread)
 * hashes without building an entry.
 */
export function chainHashOfFields(key: ChainKey, prevHash: string, seq: number, fieldsJson: string): string {
  return key.mac(chainText(prevHash, seq, fieldsJson));
}

/** The keyed hash of record `seq` holding `entry`, chained onto `prevHash`. */
export function chainHash(key: ChainKey, prevHash: string, seq: number, entry: AuditEntry): string {
  return chainHashOfFields(key, prevHash, seq, JSON.stringify(chainFieldValues(entry)));
}

/** The hash records had before the chain was keyed (SHA-256): verify.ts checks records before the switch with it. */
export function plainChainHash(prevHash: string, seq: number, entry: AuditEntry): string {
  return sha256(chainText(prevHash, seq, JSON.stringify(chainFieldValues(entry))));
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
export function extendChain(key: ChainKey, head: ChainHead | undefined, entries: AuditEntry[]): AuditRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  return entries.map((entry) => {
    seq += 1;
    const record = chainedRecord(entry, seq, prevHash, chainHash(key, prevHash, seq, entry));
    prevHash = record.hash;
    return record;
  });
}
