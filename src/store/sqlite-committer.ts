/**
 * Durable commits off the event loop. better-sqlite3 is synchronous, and with synchronous=FULL a
 * commit waits for fsync (milliseconds to tens of milliseconds): done on the main thread, every
 * request in flight would wait too. The committer is a worker thread with its own connection to
 * the same database file that only inserts fully formed audit and lease rows in one transaction.
 * The main thread keeps building the next batch while the worker waits for the disk.
 *
 * The worker is deliberately tiny and plain JavaScript (no imports but the driver), so it runs the
 * same from compiled output and from TypeScript sources under test.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { AuditRecord, Lease } from "../domain.js";

/** A lease as SQLite binds it: booleans are integers. */
export type LeaseRow = Omit<Lease, "renewable"> & { renewable: 0 | 1 };

export interface CommitBatch {
  /** The seq the database's last audit record must have, or the batch is refused (someone else appended). */
  expectSeq: number;
  records: AuditRecord[];
  leases: LeaseRow[];
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");
const last = db.prepare("SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1");
const insertAudit = db.prepare("INSERT INTO audit_events (seq, time, actor, actor_kind, action, resource, outcome, reason, lease_id, version, request_id, source_ip, token_ref, prev_hash, hash) VALUES (@seq, @time, @actor, @actorKind, @action, @resource, @outcome, @reason, @leaseId, @version, @requestId, @sourceIp, @tokenRef, @prevHash, @hash)");
const insertLease = db.prepare("INSERT INTO leases (id, server_id, secret_path, version, issued_at, expires_at, max_expires_at, renewable, revoked_at, revoke_reason, external_lease_id) VALUES (@id, @serverId, @secretPath, @version, @issuedAt, @expiresAt, @maxExpiresAt, @renewable, @revokedAt, @revokeReason, @externalLeaseId)");
const append = db.transaction((batch) => {
  const head = last.get();
  const seq = head ? head.seq : 0;
  if (seq !== batch.expectSeq) throw new Error("audit chain head moved: expected seq " + batch.expectSeq + ", found " + seq);
  for (const lease of batch.leases) insertLease.run(lease);
  for (const record of batch.records) insertAudit.run(record);
});
parentPort.on("message", (message) => {
  if (message.close) { db.close(); parentPort.close(); return; }
  try {
    append.immediate(message.batch);
    parentPort.postMessage({ id: message.id, ok: true });
  } catch (error) {
    parentPort.postMessage({ id: message.id, ok: false, error: String((error && error.message) || error) });
  }
});
`;

export class SqliteCommitter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;

  constructor(file: string) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    this.worker.on("message", (message: { id: number; ok: boolean; error?: string }) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok) waiter?.resolve();
      else waiter?.reject(new Error(message.error ?? "commit failed"));
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`audit committer stopped (exit ${code})`)));
  }

  /** Why the committer stopped, if it did: every commit fails from then on (fail closed). */
  get stoppedBecause(): Error | undefined {
    return this.failure;
  }

  /** Resolves once the batch is committed and fsynced; rejects (nothing committed) otherwise. */
  commit(batch: CommitBatch): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, batch });
    });
  }

  async close(): Promise<void> {
    if (this.failure) return;
    const exited = new Promise((resolve) => this.worker.once("exit", resolve));
    this.worker.postMessage({ close: true });
    await exited;
  }
}
