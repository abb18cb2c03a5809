/**
 * Durable audit with group commit. `record()` resolves only after its entry is committed (fsynced
 * by the store); entries that arrive in the same event-loop turn share one transaction. If the
 * commit fails every waiting caller gets BrokerError("audit_unavailable") and must not release
 * anything: the broker fails closed, as Vault does when no audit device can record a request.
 */
import type { AuditEntry, AuditRecord, Lease } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";

interface Pending {
  entry: AuditEntry;
  lease: Lease | undefined;
  resolve: (record: AuditRecord) => void;
  reject: (error: unknown) => void;
}

export interface AuditWriterOptions {
  /** Upper bound of records per transaction (default 1000). */
  maxBatch?: number;
  onCommitFailure?: (error: unknown, batchSize: number) => void;
  /** After each committed batch, with how many records it held (the checkpoint schedule counts them). */
  onCommitted?: (count: number) => void;
}

export class AuditWriter {
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  private readonly maxBatch: number;

  constructor(
    private readonly store: Pick<Store, "appendAudit">,
    private readonly metrics: Pick<Metrics, "auditWriteFailures" | "auditBatchSize"> | undefined,
    private readonly options: AuditWriterOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /**
   * Appends one entry; resolves with the committed record once it is durable. A `lease` given
   * here is inserted in the same transaction, so issuing a lease costs no extra fsync.
   */
  record(entry: AuditEntry, lease?: Lease): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      this.queue.push({ entry, lease, resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything queued so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    const batch = this.queue.splice(0, this.maxBatch);
    try {
      const records = await this.store.appendAudit(
        batch.map((pending) => pending.entry),
        batch.flatMap((pending) => (pending.lease ? [pending.lease] : [])),
      );
      this.metrics?.auditBatchSize.observe(batch.length);
      this.options.onCommitted?.(batch.length);
      batch.forEach((pending, index) => pending.resolve(records[index]!));
    } catch (error) {
      this.metrics?.auditWriteFailures.inc();
      this.options.onCommitFailure?.(error, batch.length);
      const failure = new BrokerError("audit_unavailable", "the audit log cannot be written; the request was refused", {
        detail: String(error),
        cause: error,
      });
      for (const pending of batch) pending.reject(failure);
    } finally {
      this.flushing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
