/**
 * Verifies the audit hash chain: every record's hash must match its content, chain onto the
 * previous record's hash, and sequence numbers must have no gaps. Detects a deleted, altered or
 * reordered record. A truncated tail is only detectable against a head hash kept elsewhere, so
 * the result reports the head for auditors to record outside the broker.
 */
import type { AuditRecord } from "../domain.js";
import { chainHash, GENESIS_HASH } from "./chain.js";

export type ChainProblemKind = "sequence_gap" | "broken_link" | "hash_mismatch";

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
}

/** Checks records page by page; stops collecting after `maxProblems`. */
export async function verifyChain(pages: AsyncIterable<AuditRecord[]>, maxProblems = 100): Promise<VerifyResult> {
  const problems: ChainProblem[] = [];
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  let head: VerifyResult["head"] = null;
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
      if (chainHash(record.prevHash, record.seq, record) !== record.hash) {
        problems.push({ seq: record.seq, kind: "hash_mismatch", message: `record ${record.seq} was altered after it was written` });
      }
      expectedSeq = record.seq + 1;
      prevHash = record.hash;
      head = { seq: record.seq, hash: record.hash };
      if (problems.length >= maxProblems) return { ok: false, checked, head, problems };
    }
  }
  return { ok: problems.length === 0, checked, head, problems };
}
