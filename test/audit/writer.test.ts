/**
 * The audit writer's contract, against a real SQLite store with its committer thread: group
 * commit, batches in order, and fail closed per batch (every waiter of a failed batch refused,
 * nothing of it on disk, the next batch unaffected).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { auditEntry } from "../../src/audit/entry.js";
import { AuditWriter } from "../../src/audit/writer.js";
import type { AuditEntry } from "../../src/domain.js";
import { BrokerError } from "../../src/errors.js";
import { newLease } from "../../src/leases/lease.js";
import { createMetrics, type Metrics } from "../../src/metrics.js";
import type { SqliteStore } from "../../src/store/sqlite.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const entry = (resource: string, leaseId: string | null = null): AuditEntry =>
  auditEntry({ id: "reader-mcp", kind: "server" }, { requestId: `req-${resource}`, sourceIp: "127.0.0.1" }, { action: "secret.read", resource, outcome: "allowed", reason: "policies/app.yaml:3", leaseId }, Date.now());

/** Commits and records per commit, read from the writer's own histogram through prom-client's public API. */
async function batchSizes(metrics: Metrics): Promise<{ commits: number; records: number }> {
  const { values } = await metrics.auditBatchSize.get();
  const value = (name: string) => values.find((sample) => sample.metricName === name)?.value ?? 0;
  return { commits: value("credbroker_audit_batch_size_count"), records: value("credbroker_audit_batch_size_sum") };
}

describe("AuditWriter", () => {
  let temp: TempStore;
  let store: SqliteStore;
  let metrics: Metrics;

  beforeEach(() => {
    temp = openTempStore("writer");
    store = temp.store;
    metrics = createMetrics();
  });
  afterEach(() => temp.close());

  it("commits the records of one event-loop turn in one transaction, in the order they were recorded", async () => {
    const writer = new AuditWriter(store, metrics);
    const records = await Promise.all(["a", "b", "c", "d", "e"].map((name) => writer.record(entry(`app/${name}`))));
    expect(await batchSizes(metrics)).toEqual({ commits: 1, records: 5 });
    expect(records.map((record) => record.resource)).toEqual(["app/a", "app/b", "app/c", "app/d", "app/e"]);
    expect(records.map((record) => record.seq)).toEqual([1, 2, 3, 4, 5]);
    const onDisk = await store.queryAudit({ limit: 100 });
    expect(onDisk.map((record) => [record.seq, record.resource, record.hash])).toEqual(records.map((record) => [record.seq, record.resource, record.hash]));
  });

  it("splits a queue longer than maxBatch into transactions of at most maxBatch, keeping the order", async () => {
    const writer = new AuditWriter(store, metrics, { maxBatch: 2 });
    const records = await Promise.all(["a", "b", "c", "d", "e"].map((name) => writer.record(entry(`app/${name}`))));
    expect(await batchSizes(metrics)).toEqual({ commits: 3, records: 5 });
    expect(records.map((record) => record.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("fails closed for a whole batch: every waiter refused with audit_unavailable, nothing of it on disk, the next batch commits", async () => {
    const failures: number[] = [];
    const writer = new AuditWriter(store, metrics, { onCommitFailure: (_error, batchSize) => failures.push(batchSize) });
    await writer.record(entry("app/before"));
    // A second connection, as in the broker's own fail-closed test: one poisoned record fails its transaction.
    const db = new Database(join(temp.dir, "broker.db"));
    db.exec("CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events WHEN NEW.resource = 'app/poison' BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    const lease = newLease({ serverId: "reader-mcp", secretPath: "app/a", version: 1, now: Date.now(), terms: { defaultTtlSeconds: 900, maxTtlSeconds: 900 } });
    const settled = await Promise.allSettled([writer.record(entry("app/a", lease.id), lease), writer.record(entry("app/poison")), writer.record(entry("app/c"))]);

    for (const result of settled) {
      expect(result.status).toBe("rejected");
      const reason = (result as PromiseRejectedResult).reason as BrokerError;
      expect(reason).toBeInstanceOf(BrokerError);
      expect(reason.code).toBe("audit_unavailable");
    }
    expect(failures).toEqual([3]);
    expect((await metrics.auditWriteFailures.get()).values[0]?.value).toBe(1);
    expect((await store.queryAudit({ limit: 100 })).map((record) => record.resource)).toEqual(["app/before"]);
    // The lease recorded with its entry went down with the batch: nothing was issued.
    expect(await store.listLeases({})).toEqual([]);

    db.exec("DROP TRIGGER refuse_poison");
    db.close();
    const after = await writer.record(entry("app/after"));
    expect(after.seq).toBe(2);
    expect((await store.queryAudit({ limit: 100 })).map((record) => record.resource)).toEqual(["app/before", "app/after"]);
  });

  it("commits a lease recorded with its entry in the same transaction", async () => {
    const writer = new AuditWriter(store, metrics);
    const lease = newLease({ serverId: "reader-mcp", secretPath: "app/a", version: 1, now: Date.now(), terms: { defaultTtlSeconds: 900, maxTtlSeconds: 900 } });
    const record = await writer.record(entry("app/a", lease.id), lease);
    expect(record.leaseId).toBe(lease.id);
    expect((await store.listLeases({})).map((stored) => stored.id)).toEqual([lease.id]);
    expect(await batchSizes(metrics)).toEqual({ commits: 1, records: 1 });
  });

  it("drain() returns once everything recorded so far is committed", async () => {
    const writer = new AuditWriter(store, metrics);
    const pending = ["a", "b", "c"].map((name) => writer.record(entry(`app/${name}`)));
    await writer.drain();
    expect((await store.queryAudit({ limit: 100 })).length).toBe(3);
    await Promise.all(pending);
  });
});
