/**
 * Durable commits off the event loop. better-sqlite3 is synchronous, and with synchronous=FULL a
 * commit waits for fsync (milliseconds to tens of milliseconds): done on the main thread, every
 * request in flight would wait too. The committer is a worker thread (sqlite-committer-worker.ts)
 * with its own connection to the same database file: for each batch it chains the audit records
 * onto the last one on disk and inserts them with their leases in one transaction. The main thread
 * keeps building the next batch while the worker waits for the disk.
 */
import { createRequire } from "node:module";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { AuditFieldValues, ChainKey } from "../audit/chain.js";
import type { Lease } from "../domain.js";

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
export const LEASE_COLUMNS = ["id", "server_id", "secret_path", "version", "issued_at", "expires_at", "max_expires_at", "renewable", "revoked_at", "revoke_reason", "external_lease_id"] as const;

/** Appends the lease's columns to `row`. */
export function pushLeaseRow(row: unknown[], l: Lease): void {
  row.push(l.id, l.serverId, l.secretPath, l.version, l.issuedAt, l.expiresAt, l.maxExpiresAt, l.renewable ? 1 : 0, l.revokedAt, l.revokeReason, l.externalLeaseId);
}

/**
 * What the main thread sends the committer thread. `chainKey` (the audit key's bytes, copied) is
 * sent before any batch, again to every restarted thread, and never answered or logged.
 */
export type CommitterRequest = { id: number; batch: CommitBatch } | { id: number; probe: true } | { chainKey: Uint8Array } | { close: true };

/** The committer thread's answer to the request with `id`; `code` is better-sqlite3's error code. */
export type CommitterReply = { id: number; ok: true; chain: CommittedChain | null } | { id: number; ok: false; error: string; code: string | undefined };

/** A commit the committer's database refused; `code` is better-sqlite3's (e.g. SQLITE_CONSTRAINT_PRIMARYKEY). */
export class CommitError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "CommitError";
  }
}

/**
 * Starts the committer thread. From compiled output (dist/) the worker module is plain JavaScript.
 * From TypeScript sources (vitest, tsx) the thread needs a TypeScript loader, and on Node 20 a
 * worker does not inherit its parent's loader hooks: a one-line bootstrap registers tsx in the
 * thread, then loads the same worker module.
 */
function startCommitterThread(file: string): Worker {
  const extension = extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./sqlite-committer-worker${extension}`, import.meta.url);
  if (extension !== ".ts") return new Worker(entry, { workerData: { file } });
  // tsx's require hook, not its ESM hooks: those start a loader thread per worker (~0.3 s each).
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api");
  const bootstrap = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(entry))});`;
  return new Worker(bootstrap, { eval: true, workerData: { file } });
}

/** First wait before starting a stopped committer again; doubles up to MAX_RESTART_DELAY_MS. */
const RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;

export class SqliteCommitter {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (chain: CommittedChain | null) => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;
  private restartDelayMs = RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private chainKey: ChainKey | undefined;

  constructor(private readonly file: string) {
    this.worker = this.start();
  }

  /**
   * Starts a worker. When one stops unexpectedly, the batches it held fail (nothing of them was
   * acknowledged), every commit fails while it is down (fail closed), and a new one is started
   * after a growing delay. Nothing needs carrying over: each commit chains onto the head on disk.
   */
  private start(): Worker {
    const worker = startCommitterThread(this.file);
    worker.on("message", (message: CommitterReply) => {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.ok) {
        this.restartDelayMs = RESTART_DELAY_MS;
        waiter?.resolve(message.chain);
      } else waiter?.reject(new CommitError(message.error, message.code));
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
    // Messages arrive in order: a restarted thread has its key before its first batch.
    if (this.chainKey) this.sendKey(worker, this.chainKey);
    return worker;
  }

  /** The key the thread chains with (audit/chain.ts); until it has one, it refuses every batch. */
  useChainKey(key: ChainKey): void {
    this.chainKey = key;
    if (!this.failure) this.sendKey(this.worker, key);
  }

  private sendKey(worker: Worker, key: ChainKey): void {
    const request: CommitterRequest = { chainKey: key.bytes() };
    worker.postMessage(request);
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
    const request: CommitterRequest = { id, ...message };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.restartTimer);
    if (this.failure) return;
    const exited = new Promise((resolve) => this.worker.once("exit", resolve));
    const request: CommitterRequest = { close: true };
    this.worker.postMessage(request);
    await exited;
  }
}
