/**
 * An archived segment of the audit chain, as exported by `audit archive`: one JSON line per
 * record (the API's record shape), then one trailer line that the broker signs with its
 * checkpoint key. The trailer names the segment's first and last seq, the hash the first record
 * chains onto, the last record's hash (the anchor the kept chain continues from) and the SHA-256
 * of the record lines, so a segment verifies offline with only the public key.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { auditRecordToJson, type AuditRecordJson } from "./record.js";
import type { AuditRecord } from "../domain.js";
import { textSignatureValid, type CheckpointPublicKeys, type CheckpointSigner } from "./checkpoint.js";

const trailerSchema = z
  .object({
    type: z.literal("credbroker.audit.segment"),
    first_seq: z.number().int().min(1),
    last_seq: z.number().int().min(1),
    prev_hash: z.string().regex(/^[0-9a-f]{64}$/),
    last_hash: z.string().regex(/^[0-9a-f]{64}$/),
    records_sha256: z.string().regex(/^[0-9a-f]{64}$/),
    time: z.string().min(1).max(64),
    key_id: z.string().min(1).max(64),
    signature: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  })
  .strict();
export type SegmentTrailer = z.output<typeof trailerSchema>;

function trailerText(t: Omit<SegmentTrailer, "signature">): string {
  return JSON.stringify(["credbroker audit segment v1", t.first_seq, t.last_seq, t.prev_hash, t.last_hash, t.records_sha256, t.time, t.key_id]);
}

/** SHA-256 hex of the record lines joined by newlines: what the trailer and the archive request name. */
export function recordLinesDigest(lines: readonly string[]): string {
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

/** The record lines of `records` (non-empty, consecutive), exactly as a segment file holds them. */
export function segmentLines(records: readonly AuditRecord[]): string[] {
  return records.map((record) => JSON.stringify(auditRecordToJson(record)));
}

/** The signed trailer for `records` (non-empty, in seq order) signed at `timeMs`. */
export function signSegment(records: readonly AuditRecord[], signer: CheckpointSigner, timeMs: number): SegmentTrailer {
  const first = records[0]!;
  const last = records.at(-1)!;
  const unsigned = {
    type: "credbroker.audit.segment" as const,
    first_seq: first.seq,
    last_seq: last.seq,
    prev_hash: first.prevHash,
    last_hash: last.hash,
    records_sha256: recordLinesDigest(segmentLines(records)),
    time: new Date(timeMs).toISOString(),
    key_id: signer.keyId,
  };
  return { ...unsigned, signature: signer.signText(trailerText(unsigned)) };
}

export interface SegmentVerification {
  ok: boolean;
  records: number;
  trailer: SegmentTrailer | null;
  problems: string[];
}

/** Verifies a segment file's text offline: trailer signature, digest of the record lines, seq and hash links. */
export function verifySegment(text: string, keys: CheckpointPublicKeys): SegmentVerification {
  const lines = text.split("\n");
  while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();
  const problems: string[] = [];
  const trailerLine = lines.pop();
  let trailer: SegmentTrailer | null = null;
  try {
    const parsed = trailerSchema.safeParse(JSON.parse(trailerLine ?? ""));
    if (parsed.success) trailer = parsed.data;
  } catch {
    // reported below
  }
  if (!trailer) return { ok: false, records: lines.length, trailer: null, problems: ["the last line is not a segment trailer: the file is not a complete audit segment"] };
  const { signature, ...unsigned } = trailer;
  if (!textSignatureValid(trailerText(unsigned), trailer.key_id, signature, keys)) problems.push(`the trailer is not signed by a known checkpoint key (key id ${trailer.key_id})`);
  if (recordLinesDigest(lines) !== trailer.records_sha256) problems.push("the record lines are not the ones the trailer signed: a record was altered, added or removed");
  let expectedSeq = trailer.first_seq;
  let prevHash = trailer.prev_hash;
  lines.forEach((line, index) => {
    let record: Partial<AuditRecordJson>;
    try {
      record = JSON.parse(line) as Partial<AuditRecordJson>;
    } catch {
      problems.push(`line ${index + 1}: not JSON`);
      return;
    }
    if (record.seq !== expectedSeq) problems.push(`line ${index + 1}: seq ${String(record.seq)} where ${expectedSeq} was expected`);
    if (record.prev_hash !== prevHash) problems.push(`line ${index + 1}: record ${String(record.seq)} does not chain onto the record before it`);
    expectedSeq = (typeof record.seq === "number" ? record.seq : expectedSeq) + 1;
    prevHash = typeof record.hash === "string" ? record.hash : "";
  });
  if (expectedSeq - 1 !== trailer.last_seq || prevHash !== trailer.last_hash) problems.push(`the records end at seq ${expectedSeq - 1}, not at the trailer's last seq ${trailer.last_seq} and hash`);
  return { ok: problems.length === 0, records: lines.length, trailer, problems };
}
