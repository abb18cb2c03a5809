/**
 * Retention: archiving the oldest records in two steps, so no record leaves the database before
 * its caller holds a verified copy.
 *
 * 1. `exportSegment(before)`: verifies the whole chain (a broken chain is never signed into a
 *    segment), and returns the records from the first kept one up to the last one before
 *    `before` (a prefix: it stops at the first record at or after `before`; the newest record
 *    always stays), with a signed trailer (segment.ts).
 * 2. `removeSegment(throughSeq, recordsSha256)`: only when those records still have that digest,
 *    deletes them and stores the archive anchor (their last seq and hash, keyed: chain-format.ts)
 *    in one transaction, then records `audit.archive` and takes a checkpoint, so the anchor is
 *    itself covered by the chain and by a signed checkpoint.
 */
import type { AuditRecord, RequestMeta } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { Store } from "../store/store.js";
import { anchorMeta } from "./chain-format.js";
import type { RunningCheckpoints } from "./checkpoints.js";
import { auditEntry, type Actor } from "./entry.js";
import { recordLinesDigest, segmentLines, signSegment, type SegmentTrailer } from "./segment.js";
import type { AuditQueries } from "./query.js";
import type { AuditWriter } from "./writer.js";
import type { ChainKey } from "./chain.js";
import type { CheckpointSigner } from "./checkpoint.js";

export interface ArchiveDeps {
  store: Pick<Store, "queryAudit" | "archiveAudit">;
  queries: Pick<AuditQueries, "verify">;
  audit: Pick<AuditWriter, "record">;
  checkpoints: Pick<RunningCheckpoints, "checkpoint">;
  key: ChainKey;
  signer: CheckpointSigner;
  clock: () => number;
}

/** Records read per query while collecting a segment. */
const PAGE = 1000;

/** Segment size limit: one request's answer stays bounded; archive again for more. */
export const MAX_SEGMENT_RECORDS = 100_000;

async function recordsBefore(store: ArchiveDeps["store"], before: number, throughSeq?: number): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let afterSeq = 0;
  for (;;) {
    const page = await store.queryAudit({ afterSeq, limit: PAGE });
    for (const record of page) {
      if (throughSeq !== undefined ? record.seq > throughSeq : record.time >= before) return records;
      records.push(record);
      if (records.length >= MAX_SEGMENT_RECORDS) return records;
    }
    if (page.length < PAGE) return records;
    afterSeq = page.at(-1)!.seq;
  }
}

export class AuditArchive {
  constructor(private readonly deps: ArchiveDeps) {}

  /** The segment of records before `before` (epoch ms) with its signed trailer; not_found when there is none to archive. */
  async exportSegment(before: number): Promise<{ lines: string[]; trailer: SegmentTrailer }> {
    const verdict = await this.deps.queries.verify();
    if (!verdict.ok) throw new BrokerError("audit_tampered", "the audit chain does not verify; nothing is archived until `audit verify` passes", { data: { problems: verdict.problems.length } });
    const records = await recordsBefore(this.deps.store, before);
    const [head] = await this.deps.store.queryAudit({ order: "desc", limit: 1 });
    // The newest record always stays: appends continue from it.
    if (head && records.at(-1)?.seq === head.seq) records.pop();
    if (records.length === 0) throw new BrokerError("not_found", "no audit record before that time can be archived");
    return { lines: segmentLines(records), trailer: signSegment(records, this.deps.signer, this.deps.clock()) };
  }

  /** Removes the records up to `throughSeq` when they still have `recordsSha256` (segment.ts); conflict otherwise. */
  async removeSegment(actor: Actor, meta: RequestMeta, throughSeq: number, recordsSha256: string): Promise<{ archived: number; anchor: { seq: number; hash: string } }> {
    const records = await recordsBefore(this.deps.store, Number.POSITIVE_INFINITY, throughSeq);
    const last = records.at(-1);
    const [head] = await this.deps.store.queryAudit({ order: "desc", limit: 1 });
    if (!last || last.seq !== throughSeq || head?.seq === throughSeq || recordLinesDigest(segmentLines(records)) !== recordsSha256) {
      throw new BrokerError("conflict", "those records are not the exported segment (or include the newest record): export the segment again");
    }
    const anchor = { seq: last.seq, hash: last.hash };
    const archived = await this.deps.store.archiveAudit(throughSeq, anchorMeta(this.deps.key, anchor));
    const reason = `seq ${records[0]!.seq}..${last.seq} archived; last hash ${last.hash}; records sha256 ${recordsSha256}`;
    await this.deps.audit.record(auditEntry(actor, meta, { action: "audit.archive", resource: "audit", outcome: "allowed", reason }, this.deps.clock()));
    await this.deps.checkpoints.checkpoint("archive");
    return { archived, anchor };
  }
}
