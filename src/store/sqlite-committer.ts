/**
 * Durable commits off the event loop. better-sqlite3 is synchronous, and with synchronous=FULL a
 * commit waits for fsync (milliseconds to tens of milliseconds): done on the main thread, every
 * request in flight would wait too. The committer is a worker thread with its own connection to
 * the same database file: for each batch it chains the audit records onto the last one on disk
 * and inserts them with their leases in one transaction. The main thread keeps building the next
 * batch while the worker waits for the disk.
 *
 * The worker is deliberately tiny and plain JavaScript (no imports but node:crypto and the
 * driver), so it runs the same from compiled output and from TypeScript sources under test.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { AuditFieldValues } from "../audit/record.js";
import type { Lease } from "../domain.js";
import { GENESIS_HASH } from "./store.js";

/**
 * One group commit. Audit entries travel as their `chainFieldValues` and leases as one flat row
 * of columns after the other: structured-cloning named objects to the worker cost more than
 * building them. The worker assigns seqs and chains hashes itself, inside its write transaction,
 * so the chain always continues from what is really on disk.
 */
export interface CommitBatch {
  /** `chainFieldValues(entry)` of each entry, in order. */
  auditFields: AuditFieldValues[];
  /** LEASE_COLUMNS.length values per lease. */
  leaseRows: unknown[];
}

/** Where a committed batch landed in the chain: record i has seq firstSeq + i and hash hashes[i]. */
export interface CommittedChain {
  firstSeq: number;
  /** The hash the first record chains onto. */
  prevHash: string;
  hashes: string[];
}

/** Column order of leases rows in a batch. */
const LEASE_COLUMNS = ["id", "server_id", "secret_path", "version", "issued_at", "expires_at", "max_expires_at", "renewable", "revoked_at", "revoke_reason", "external_lease_id"] as const;

/** Appends the lease's columns to `row`. */
export function pushLeaseRow(row: unknown[], l: Lease): void {
  row.push(l.id, l.serverId, l.secretPath, l.version, l.issuedAt, l.expiresAt, l.maxExpiresAt, l.renewable ? 1 : 0, l.revokedAt, l.revokeReason, l.externalLeaseId);
}

const INSERT_AUDIT =
  "INSERT INTO audit_events (seq, time, actor, actor_kind, action, resource, outcome, reason, lease_id, version, request_id, source_ip, token_ref, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_LEASE = `INSERT INTO leases (${LEASE_COLUMNS.join(", ")}) VALUES (${LEASE_COLUMNS.map(() => "?").join(", ")})`;

// The hash line below must produce exactly audit/record.ts chainHashOfFields; the store tests
// verify committer-written chains with chainHash, so a drift fails them.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const crypto = require("node:crypto");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");
const sha256Hex = typeof crypto.hash === "function"
  ? (text) => crypto.hash("sha256", text, "hex")
  : (text) => crypto.createHash("sha256").update(text).digest("hex");
const last = db.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
const insertAudit = db.prepare(workerData.insertAudit);
const insertLease = db.prepare(workerData.insertLease);
const append = db.transaction((batch) => {
  const width = workerData.leaseWidth;
  if (batch.leaseRows.length % width !== 0) throw new Error("malformed batch");
  for (let i = 0; i < batch.leaseRows.length; i += width) insertLease.run(batch.leaseRows.slice(i, i + width));
  const head = last.get();
  let seq = head ? head.seq : 0;
  let prevHash = head ? head.hash : workerData.genesisHash;
  const chain = { firstSeq: seq + 1, prevHash, hashes: [] };
  for (const values of batch.auditFields) {
    seq += 1;
    const fields = JSON.stringify(values);
    const hash = sha256Hex("[" + seq + "," + fields.slice(1, -1) + "," + JSON.stringify(prevHash) + "]");
    insertAudit.run(seq, ...values, prevHash, hash);
    chain.hashes.push(hash);
    prevHash = hash;
  }
  return chain;
});
// Readiness: can this connection take the write lock now (not read-only, not held elsewhere)?
const probe = () => {
  try { db.exec("BEGIN IMMEDIATE"); } finally { if (db.inTransaction) db.exec("ROLLBACK"); }
  return null;
};
parentPort.on("message", (message) => {
  if (message.close) { db.close(); parentPort.close(); return; }
  try {
    parentPort.postMessage({ id: message.id, ok: true, chain: message.probe ? probe() : append.immediate(message.batch) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, ok: false, error: String((error && error.message) || error), code: error && typeof error.code === "string" ? error.code : undefined });
  }
});
`;

/** A commit the worker's database refused; `code` is better-sqlite3's (e.g. SQLITE_CONSTRAINT_PRIMARYKEY). */
export class CommitError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "CommitError";
  }
}

/** First wait before starting a stopped committer again; doubles up to MAX_RESTART_DELAY_MS. */
const RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;

export class SqliteCommitter {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (chain: CommittedChain | null) => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;
  private readonly workerData: Record<string, unknown>;
  private restartDelayMs = RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(file: string) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.workerData = { file, driver, insertAudit: INSERT_AUDIT, insertLease: INSERT_LEASE, leaseWidth: LEASE_COLUMNS.length, genesisHash: GENESIS_HASH };
    this.worker = this.start();
  }

  /**
   * Starts a worker. When one stops unexpectedly, the batches it held fail (nothing of them was
   * acknowledged), every commit fails while it is down (fail closed), and a new one is started
   * after a growing delay. Nothing needs carrying over: each commit chains onto the head on disk.
   */
  private start(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.workerData });
    worker.on("message", (message: { id: number; ok: boolean; chain?: CommittedChain | null; error?: string; code?: string }) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok && message.chain !== undefined) {
        this.restartDelayMs = RESTART_DELAY_MS;
        waiter?.resolve(message.chain);
      } else waiter?.reject(new CommitError(message.error ?? "commit failed", message.code));
    });
    const stopped = (error: Error) => {
      if (worker !== this.worker || this.failure) return;
      this.failure = error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
      if (this.closing) return;
      this.restartTimer = setTimeout(() => {
        this.failure = undefined;
        this.worker = this.start();
      }, this.restartDelayMs);
      this.restartTimer.unref();
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    };
    worker.on("error", stopped);
    worker.on("exit", (code) => stopped(new Error(`audit committer stopped (exit ${code})`)));
    return worker;
  }

  /** Why the committer is stopped, while it is: every commit fails until it runs again (fail closed). */
  get stoppedBecause(): Error | undefined {
    return this.failure;
  }

  /** Resolves once the batch is committed and fsynced; rejects (nothing committed) otherwise. */
  async commit(batch: CommitBatch): Promise<CommittedChain> {
    const chain = await this.send({ batch });
    if (!chain) throw new Error("the committer answered a commit without its chain");
    return chain;
  }

  /** Resolves when the committer could take the database's write lock now (after commits queued before it). */
  async probe(): Promise<void> {
    await this.send({ probe: true });
  }

  private send(message: { batch: CommitBatch } | { probe: true }): Promise<CommittedChain | null> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.restartTimer);
    if (this.failure) return;
    const exited = new Promise((resolve) => this.worker.once("exit", resolve));
    this.worker.postMessage({ close: true });
    await exited;
  }
}
