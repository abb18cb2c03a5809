/** Auditor use cases: filtered, cursor-paginated queries; "who accessed this secret"; chain verification. */
import type { AuditRecord } from "../domain.js";
import { auditPagesOf } from "../store/shared.js";
import type { AccessSummaryRow, AuditFilter, Store } from "../store/store.js";
import type { ChainFormat } from "./chain-format.js";
import type { CheckpointPublicKeys, SignedCheckpoint } from "./checkpoint.js";
import { verifyChain, type VerifyResult } from "./verify.js";

/** What verification needs besides the records: the chain's format and the checkpoint keys and sinks. */
export interface ChainIntegrity {
  publicKeys: CheckpointPublicKeys;
  format(): Promise<ChainFormat | { problem: string }>;
  storedCheckpoints(): Promise<{ checkpoints: SignedCheckpoint[]; problems: string[] }>;
}

export const MAX_PAGE = 1000;

export interface AccessReportRow {
  server: string;
  actor_kind: string;
  count: number;
  first: string;
  last: string;
  outcomes: { allowed: number; denied: number; error: number };
}

export class AuditQueries {
  constructor(
    private readonly store: Pick<Store, "queryAudit" | "accessSummary" | "auditPages">,
    private readonly integrity: ChainIntegrity,
  ) {}

  /**
   * One page of records in `order` (default oldest first); `next_cursor` is set when more follow
   * (null on the last page, like every list route), and `cursor` continues in the same order
   * (after it ascending, before it descending).
   */
  async page(
    filter: Omit<AuditFilter, "limit" | "afterSeq" | "beforeSeq"> & { limit?: number; cursor?: number },
  ): Promise<{ events: AuditRecord[]; nextCursor: string | null }> {
    const { cursor, ...rest } = filter;
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), MAX_PAGE);
    const continued = cursor === undefined ? {} : filter.order === "desc" ? { beforeSeq: cursor } : { afterSeq: cursor };
    // One record more than the page: it says whether another page follows.
    const read = await this.store.queryAudit({ ...rest, ...continued, limit: limit + 1 });
    const events = read.slice(0, limit);
    const last = events.at(-1);
    return { events, nextCursor: read.length > limit && last ? String(last.seq) : null };
  }

  /** Every matching record, page by page (exports). */
  all(filter: Omit<AuditFilter, "limit" | "afterSeq">): AsyncIterable<AuditRecord[]> {
    return auditPagesOf(this.store, filter, MAX_PAGE);
  }

  async accessReport(secretPath: string, since: number | undefined): Promise<AccessReportRow[]> {
    const rows = await this.store.accessSummary(secretPath, since);
    return rows.map((row: AccessSummaryRow) => ({
      server: row.actor,
      actor_kind: row.actorKind,
      count: Number(row.count),
      first: new Date(Number(row.first)).toISOString(),
      last: new Date(Number(row.last)).toISOString(),
      outcomes: { allowed: Number(row.allowed), denied: Number(row.denied), error: Number(row.error) },
    }));
  }

  /**
   * Verifies the keyed chain and holds it against `checkpoints`, or, when none are given, against
   * every checkpoint the broker's own file sinks hold (a line there that cannot be read is a
   * problem too: it may hide the newest checkpoint).
   */
  async verify(checkpoints?: readonly SignedCheckpoint[]): Promise<VerifyResult & { unreadable: string[] }> {
    const stored = checkpoints ? { checkpoints, problems: [] } : await this.integrity.storedCheckpoints();
    const result = await verifyChain(this.store.auditPages(MAX_PAGE), await this.integrity.format(), {
      checkpoints: stored.checkpoints,
      publicKeys: this.integrity.publicKeys,
    });
    return { ...result, ok: result.ok && stored.problems.length === 0, unreadable: stored.problems };
  }
}
