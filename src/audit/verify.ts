/**
 * Verifies the audit chain: every record's hash must match its content (keyed HMAC from the
 * format's `keyedFromSeq` on, SHA-256 before it), chain onto the previous record's hash, and
 * sequence numbers must have no gaps from the first record (or the archive anchor) on. Detects a
 * deleted, altered or reordered record, and a chain recomputed without the audit key.
 *
 * Signed checkpoints (checkpoint.ts), kept outside the database, add what the chain alone cannot
 * show: every checkpoint must match the record at its seq, and the head must not be behind the
 * newest one, so a truncated tail or a database file rolled back to an older copy is detected.
 */
import type { AuditRecord } from "../domain.js";
import { chainHash, GENESIS_HASH, plainChainHash } from "./chain.js";
import type { ChainFormat } from "./chain-format.js";
import { checkpointSignatureValid, type CheckpointPublicKeys, type SignedCheckpoint } from "./checkpoint.js";

export type ChainProblemKind =
  | "sequence_gap"
  | "broken_link"
  | "hash_mismatch"
  | "format_marker"
  | "checkpoint_signature"
  | "checkpoint_mismatch"
  | "head_behind_checkpoint";

export interface ChainProblem {
  seq: number;
  kind: ChainProblemKind;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  head: { seq: number; hash: string } | null;
  problems: ChainProblem[];
  /** How many checkpoints were compared with their record, and how many predate the kept chain (archived). */
  checkpoints: { checked: number; archived: number; newest: { seq: number; hash: string; time: string } | null };
}

export interface VerifyOptions {
  /** Signed checkpoints to hold the chain against (any order; duplicates are fine). */
  checkpoints?: readonly SignedCheckpoint[];
  /** Keys checkpoints must be signed with, by key id. */
  publicKeys?: CheckpointPublicKeys;
  /** Stop collecting problems after this many (default 100). */
  maxProblems?: number;
}

/** Checks records page by page against `format` (undefined: the format marker is missing or altered, itself a problem). */
export async function verifyChain(
  pages: AsyncIterable<AuditRecord[]>,
  format: ChainFormat | { problem: string },
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const maxProblems = options.maxProblems ?? 100;
  const problems: ChainProblem[] = [];
  const checkpoints = options.checkpoints ?? [];
  const summary: VerifyResult["checkpoints"] = { checked: 0, archived: 0, newest: null };
  const result = (head: VerifyResult["head"], checked: number): VerifyResult => ({ ok: problems.length === 0, checked, head, problems, checkpoints: summary });
  if ("problem" in format) {
    problems.push({ seq: 0, kind: "format_marker", message: format.problem });
    return result(null, 0);
  }

  // Checkpoints first: a forged one is reported and not compared.
  const bySeq = new Map<number, SignedCheckpoint[]>();
  let newest: SignedCheckpoint | undefined;
  for (const checkpoint of checkpoints) {
    if (!checkpointSignatureValid(checkpoint, options.publicKeys ?? new Map())) {
      problems.push({ seq: checkpoint.seq, kind: "checkpoint_signature", message: `the checkpoint for seq ${checkpoint.seq} (${checkpoint.time}) is not signed by a known checkpoint key (key id ${checkpoint.key_id})` });
      continue;
    }
    bySeq.set(checkpoint.seq, [...(bySeq.get(checkpoint.seq) ?? []), checkpoint]);
    if (!newest || checkpoint.seq > newest.seq) newest = checkpoint;
  }
  summary.newest = newest ? { seq: newest.seq, hash: newest.hash, time: newest.time } : null;

  const anchor = format.anchor;
  let expectedSeq = (anchor?.seq ?? 0) + 1;
  let prevHash = anchor?.hash ?? GENESIS_HASH;
  let checked = 0;
  let head: VerifyResult["head"] = anchor ? { seq: anchor.seq, hash: anchor.hash } : null;
  const compare = (seq: number, hash: string) => {
    for (const checkpoint of bySeq.get(seq) ?? []) {
      summary.checked += 1;
      if (checkpoint.hash !== hash) {
        problems.push({
          seq,
          kind: "checkpoint_mismatch",
          message: `record ${seq} is not the record the checkpoint of ${checkpoint.time} signed: it was altered, or the chain was recomputed or rolled back`,
        });
      }
    }
  };
  // A checkpoint of the anchor itself still holds: the anchor carries that record's hash.
  if (anchor) compare(anchor.seq, anchor.hash);
  for (const [seq, list] of bySeq) if (anchor && seq < anchor.seq) summary.archived += list.length;

  for await (const page of pages) {
    for (const record of page) {
      checked += 1;
      if (record.seq !== expectedSeq) {
        problems.push({
          seq: record.seq,
          kind: "sequence_gap",
          message: `record ${record.seq} follows ${expectedSeq - 1}: ${record.seq - expectedSeq} record(s) missing`,
        });
      }
      if (record.prevHash !== prevHash) {
        problems.push({ seq: record.seq, kind: "broken_link", message: `record ${record.seq} does not chain onto the record before it` });
      }
      const expected = record.seq >= format.keyedFromSeq ? chainHash(format.key, record.prevHash, record.seq, record) : plainChainHash(record.prevHash, record.seq, record);
      if (expected !== record.hash) {
        problems.push({ seq: record.seq, kind: "hash_mismatch", message: `record ${record.seq} was altered after it was written (its hash is not the audit key's)` });
      }
      compare(record.seq, record.hash);
      expectedSeq = record.seq + 1;
      prevHash = record.hash;
      head = { seq: record.seq, hash: record.hash };
      if (problems.length >= maxProblems) return result(head, checked);
    }
  }
  if (newest && newest.seq > (head?.seq ?? 0)) {
    problems.push({
      seq: head?.seq ?? 0,
      kind: "head_behind_checkpoint",
      message: `the log ends at seq ${head?.seq ?? 0} but a checkpoint of ${newest.time} signed seq ${newest.seq}: the newest records were removed or the database was rolled back`,
    });
  }
  return result(head, checked);
}
