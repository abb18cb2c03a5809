/**
 * The SQLite committer's thread (started by sqlite-committer.ts): its own connection to the
 * database file; for each batch it inserts the leases, chains the audit records onto the head on
 * disk (audit/chain.ts, the same code every writer uses) and commits, all in one write transaction.
 */
import Database from "better-sqlite3";
import { parentPort, workerData } from "node:worker_threads";
import { ChainKey, chainHashOfFields, GENESIS_HASH } from "../audit/chain.js";
import { LEASE_COLUMNS, type CommitBatch, type CommittedChain, type CommitterReply, type CommitterRequest } from "./sqlite-committer.js";

const INSERT_AUDIT =
  "INSERT INTO audit_events (seq, time, actor, actor_kind, action, resource, outcome, reason, lease_id, version, request_id, source_ip, token_ref, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_LEASE = `INSERT INTO leases (${LEASE_COLUMNS.join(", ")}) VALUES (${LEASE_COLUMNS.map(() => "?").join(", ")})`;

function databaseFile(data: unknown): string {
  if (typeof data === "object" && data !== null && "file" in data && typeof data.file === "string") return data.file;
  throw new TypeError("the committer thread needs workerData { file }");
}

const port = parentPort;
if (!port) throw new TypeError("sqlite-committer-worker runs as a worker thread");

const db = new Database(databaseFile(workerData));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");

const head = db.prepare<[], { seq: number; hash: string }>("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
const insertAudit = db.prepare(INSERT_AUDIT);
const insertLease = db.prepare(INSERT_LEASE);

// The audit key, from the main thread's first message; without it no batch is committed (fail closed).
let chainKey: ChainKey | undefined;

const append = db.transaction((batch: CommitBatch): CommittedChain => {
  if (!chainKey) throw new Error("the committer thread has no audit chain key");
  const key = chainKey;
  const width = LEASE_COLUMNS.length;
  if (batch.leaseRows.length % width !== 0) throw new TypeError("malformed batch: lease rows are not whole");
  for (let i = 0; i < batch.leaseRows.length; i += width) insertLease.run(batch.leaseRows.slice(i, i + width));
  const last = head.get();
  let seq = last?.seq ?? 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  const chain: CommittedChain = { firstSeq: seq + 1, prevHash, hashes: [] };
  for (const values of batch.auditFields) {
    seq += 1;
    const hash = chainHashOfFields(key, prevHash, seq, JSON.stringify(values));
    insertAudit.run(seq, ...values, prevHash, hash);
    chain.hashes.push(hash);
    prevHash = hash;
  }
  return chain;
});

const writeProbe = db.prepare("INSERT INTO broker_meta (key, value) VALUES ('readiness_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");

/**
 * Readiness: can this connection commit a write now? Taking the lock is not enough (an immutable
 * or full WAL only fails at commit), so the probe commits one meta row, outside the audit chain.
 */
function probe(): null {
  db.transaction(() => writeProbe.run(new Date().toISOString())).immediate();
  return null;
}

port.on("message", (message: CommitterRequest) => {
  if ("chainKey" in message) {
    chainKey = ChainKey.of(message.chainKey);
    message.chainKey.fill(0);
    return;
  }
  if ("close" in message) {
    db.close();
    port.close();
    return;
  }
  let reply: CommitterReply;
  try {
    reply = { id: message.id, ok: true, chain: "probe" in message ? probe() : append.immediate(message.batch) };
  } catch (error) {
    const code = error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
    reply = { id: message.id, ok: false, error: error instanceof Error ? error.message : String(error), code };
  }
  port.postMessage(reply);
});
