/**
 * The attacker with write access to the database, on both dialects: real brokers, the attacker
 * editing `audit_events` directly and recomputing the chain as the old format documented it
 * (plain SHA-256), or with a key they guessed. Every edit must be caught, by `GET
 * /v1/audit/verify` or by the next start, each with its own reason.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

const POLICY = `
servers:
  tamper-mcp:
    allow:
      - secrets: ["tamper/**"]
        actions: [read]
`;

const COLUMNS = ["seq", "time", "actor", "actor_kind", "action", "resource", "outcome", "reason", "lease_id", "version", "request_id", "source_ip", "token_ref", "prev_hash", "hash"] as const;
type Row = Record<(typeof COLUMNS)[number], string | number | null>;

/** Direct access to the database, bypassing the broker: what the attacker has. */
interface Attacker {
  rows(): Promise<Row[]>;
  /** Replaces the whole audit table with `rows`. */
  replace(rows: Row[]): Promise<void>;
  /** Deletes the records with seq greater than `seq`. */
  truncateAfter(seq: number): Promise<void>;
}

interface Dialect {
  name: string;
  /** Broker config for the first broker; `dir` is the first broker's folder once started. */
  config(): Promise<Record<string, unknown>>;
  attacker(first: TestBroker): Attacker;
  /** The config a later broker on the same database uses. */
  rejoin(first: TestBroker): Record<string, unknown>;
  cleanup(): Promise<void>;
}

/** The chain as its documented format computes it: the attacker needs no broker code. */
function recompute(rows: Row[], digest: (text: string) => string): Row[] {
  let prev = "0".repeat(64);
  return rows.map((row, index) => {
    const seq = index + 1;
    const fields = [Number(row.time), row.actor, row.actor_kind, row.action, row.resource, row.outcome, row.reason, row.lease_id, row.version === null ? null : Number(row.version), row.request_id, row.source_ip, row.token_ref];
    const hash = digest(JSON.stringify([seq, ...fields, prev]));
    const out = { ...row, seq, prev_hash: prev, hash };
    prev = hash;
    return out;
  });
}
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function sqliteDialect(): Dialect {
  let file = "";
  return {
    name: "sqlite",
    config: async () => ({}),
    attacker(first) {
      file = join(first.dir, "broker.db");
      const run = <T>(work: (db: Database.Database) => T): T => {
        const db = new Database(file);
        try {
          db.pragma("busy_timeout = 5000");
          return work(db);
        } finally {
          db.close();
        }
      };
      return {
        rows: async () => run((db) => db.prepare(`SELECT ${COLUMNS.join(", ")} FROM audit_events ORDER BY seq`).all() as Row[]),
        replace: async (rows) =>
          run((db) =>
            db.transaction(() => {
              db.prepare("DELETE FROM audit_events").run();
              const insert = db.prepare(`INSERT INTO audit_events (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`);
              for (const row of rows) insert.run(...COLUMNS.map((column) => row[column]));
            })(),
          ),
        truncateAfter: async (seq) => run((db) => void db.prepare("DELETE FROM audit_events WHERE seq > ?").run(seq)),
      };
    },
    rejoin: (first) => ({ database: `sqlite:${join(first.dir, "broker.db")}` }),
    cleanup: async () => undefined,
  };
}

function postgresDialect(): Dialect {
  let schema: TestSchema | undefined;
  let sinkDir = "";
  const sinks = () => [{ type: "file", checkpoint_file: join(sinkDir, "audit-checkpoints.jsonl") }];
  return {
    name: "postgres",
    async config() {
      schema = await createTestSchema("tamper");
      sinkDir = mkdtempSync(join(tmpdir(), "credbroker-tamper-sink-"));
      return { database: schema.url, audit: { checkpoint_sinks: sinks() } };
    },
    attacker() {
      const db = schema!;
      return {
        rows: async () => (await db.query<Row>(`SELECT ${COLUMNS.join(", ")} FROM audit_events ORDER BY seq`)).rows,
        async replace(rows) {
          await db.query("BEGIN");
          await db.query("DELETE FROM audit_events");
          for (const row of rows) {
            await db.query(`INSERT INTO audit_events (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})`, COLUMNS.map((column) => row[column]));
          }
          await db.query("COMMIT");
        },
        truncateAfter: async (seq) => void (await db.query("DELETE FROM audit_events WHERE seq > $1", [seq])),
      };
    },
    rejoin: () => ({ database: schema!.url, audit: { checkpoint_sinks: sinks() } }),
    async cleanup() {
      await schema?.drop();
      if (sinkDir) rmSync(sinkDir, { recursive: true, force: true });
    },
  };
}

type Verdict = { ok: boolean; problems: Array<{ kind: string; message: string }> };

describe("the audit trail against a database writer (sqlite)", () => tamperSuite("sqlite", sqliteDialect));
describePostgres("the audit trail against a database writer (postgres)", () => tamperSuite("postgres", postgresDialect));

function tamperSuite(name: string, make: () => Dialect): void {
  let dialect: Dialect;
  const brokers: TestBroker[] = [];
  const dirs: string[] = [];

  /** A broker with a server that read a secret twice: a dozen records, the reads among them. */
  async function busyBroker(extra: Record<string, unknown> = {}, join?: { first: TestBroker; acceptAuditRollback?: boolean }): Promise<TestBroker> {
    const config = join ? dialect.rejoin(join.first) : await dialect.config();
    const broker = await startTestBroker({
      policy: POLICY,
      config: { ...config, ...extra },
      ...(join && { masterKeyFile: `${join.first.dir}/master.key`, adminToken: join.first.adminToken, acceptAuditRollback: join.acceptAuditRollback ?? false }),
    });
    brokers.push(broker);
    if (!join) {
      const secret = await broker.registerServer("tamper-mcp");
      await broker.putSecret("tamper/db", testSecret("tamper"));
      const token = await broker.serverToken("tamper-mcp", secret);
      for (let i = 0; i < 2; i += 1) expect((await broker.call("GET", "/v1/secrets/tamper/db", { token })).status).toBe(200);
    }
    return broker;
  }

  /** Stops a broker cleanly (its shutdown checkpoint) but keeps its folder: a later broker rejoins it. */
  async function stop(broker: TestBroker): Promise<void> {
    await broker.broker.close();
    brokers.splice(brokers.indexOf(broker), 1);
    dirs.push(broker.dir);
  }

  const verify = async (broker: TestBroker) => (await broker.admin<Verdict>("GET", "/v1/audit/verify")).body;

  afterEach(async () => {
    for (const broker of brokers.splice(0)) await broker.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    await dialect?.cleanup();
  });

  it("verifies an untouched trail", async () => {
    dialect = make();
    const broker = await busyBroker();
    expect(await verify(broker)).toMatchObject({ ok: true, problems: [] });
  });

  it("detects a middle record altered and the chain recomputed with plain SHA-256", async () => {
    dialect = make();
    const broker = await busyBroker();
    const attacker = dialect.attacker(broker);
    const rows = await attacker.rows();
    const middle = Math.floor(rows.length / 2);
    rows[middle] = { ...rows[middle]!, outcome: "denied", reason: "nothing to see" };
    await attacker.replace(recompute(rows, sha256));
    const verdict = await verify(broker);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((problem) => problem.kind)).toContain("hash_mismatch");
  });

  it("detects every secret.read deleted and the chain renumbered and recomputed", async () => {
    dialect = make();
    const broker = await busyBroker();
    const attacker = dialect.attacker(broker);
    const rows = await attacker.rows();
    const kept = rows.filter((row) => row.action !== "secret.read");
    expect(kept.length).toBeLessThan(rows.length);
    await attacker.replace(recompute(kept, sha256));
    const verdict = await verify(broker);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((problem) => problem.kind)).toContain("hash_mismatch");
  });

  it("detects the chain recomputed with a guessed key", async () => {
    dialect = make();
    const broker = await busyBroker();
    const attacker = dialect.attacker(broker);
    const guessed = randomBytes(32);
    const rows = await attacker.rows();
    rows[1] = { ...rows[1]!, actor: "someone-else" };
    await attacker.replace(recompute(rows, (text) => createHmac("sha256", guessed).update(text).digest("hex")));
    const verdict = await verify(broker);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((problem) => problem.kind)).toContain("hash_mismatch");
  });

  it("refuses to start on a database whose newest records were removed after the last checkpoint", async () => {
    dialect = make();
    const first = await busyBroker();
    await stop(first);
    const attacker = dialect.attacker(first);
    const rows = await attacker.rows();
    await attacker.truncateAfter(rows.length - 3);
    await expect(busyBroker({}, { first })).rejects.toMatchObject({ code: "audit_tampered", message: expect.stringMatching(/newest records were removed or the database was rolled back/) });
  });

  it("started anyway (--accept-audit-rollback) after truncation: the start is recorded and verify still fails against the old checkpoints", async () => {
    dialect = make();
    const first = await busyBroker();
    await stop(first);
    const attacker = dialect.attacker(first);
    const rows = await attacker.rows();
    await attacker.truncateAfter(rows.length - 3);
    const second = await busyBroker({}, { first, acceptAuditRollback: true });
    const accepted = await second.admin<{ events: Array<{ action: string; reason: string }> }>("GET", "/v1/audit/events?action=audit.rollback_accepted");
    expect(accepted.body.events).toEqual([expect.objectContaining({ action: "audit.rollback_accepted", reason: expect.stringMatching(/ends at seq/) })]);
    const verdict = await verify(second);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((problem) => problem.kind)).toEqual(expect.arrayContaining([expect.stringMatching(/^(head_behind_checkpoint|checkpoint_mismatch)$/)]));
  });

  it("archives a verified segment, keeps the rest verifiable, and detects a record removed from the kept chain's front", async () => {
    dialect = make();
    const broker = await busyBroker();
    const before = encodeURIComponent(new Date(Date.now() + 60_000).toISOString());
    const exported = await broker.call<string>("GET", `/v1/audit/archive?before=${before}`, { token: broker.adminToken });
    expect(exported.status).toBe(200);
    const trailer = JSON.parse(exported.body.trim().split("\n").at(-1)!) as { last_seq: number; records_sha256: string };
    const removed = await broker.admin<{ archived: number }>("POST", "/v1/audit/archive", { through_seq: trailer.last_seq, records_sha256: trailer.records_sha256 });
    expect(removed.body.archived).toBe(trailer.last_seq);
    expect(await verify(broker)).toMatchObject({ ok: true });
    const attacker = dialect.attacker(broker);
    const rows = await attacker.rows();
    await attacker.replace(rows.slice(1));
    const verdict = await verify(broker);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((problem) => problem.kind)).toContain("sequence_gap");
  });

  it("signs no segment of a chain that does not verify", async () => {
    dialect = make();
    const broker = await busyBroker();
    const attacker = dialect.attacker(broker);
    const rows = await attacker.rows();
    rows[2] = { ...rows[2]!, reason: "edited" };
    await attacker.replace(rows);
    const exported = await broker.admin<{ error: { code: string } }>("GET", `/v1/audit/archive?before=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(exported.status).toBe(503);
    expect(exported.body.error.code).toBe("audit_tampered");
  });

  if (name === "sqlite") {
    it("refuses to start on a database file rolled back to an older copy", async () => {
      dialect = make();
      const first = await busyBroker();
      await stop(first);
      const file = join(first.dir, "broker.db");
      copyFileSync(file, `${file}.old`);
      const second = await busyBroker({}, { first });
      expect((await second.admin("POST", "/v1/admin/servers", { id: "later-mcp" })).status).toBe(201);
      await stop(second);
      copyFileSync(`${file}.old`, file);
      rmSync(`${file}-wal`, { force: true });
      rmSync(`${file}-shm`, { force: true });
      await expect(busyBroker({}, { first })).rejects.toMatchObject({ code: "audit_tampered" });
    });
  }
}
