/**
 * The lease purge job. The attack it answers: every read leaves a lease row behind, so a busy
 * broker's lease table (and every listing of it) grows without end. Leases that ended longer ago
 * than `lease.retention` are deleted, in batches, by exactly one broker at a time; an active lease
 * or one that ended recently is never touched. On PostgreSQL two brokers racing purge each lease
 * once, and a broker killed (kill -9) while holding the job's lock hands the job over once the
 * lock expires. Clocks are frozen; nothing waits on wall-clock time.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { Lease } from "../../src/domain.js";
import { leasePurgeJob, LEASE_PURGE_JOB } from "../../src/jobs/lease-purge.js";
import { JobRunner } from "../../src/jobs/runner.js";
import { createMetrics } from "../../src/metrics.js";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres.js";
import type { Store } from "../../src/store/store.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/wait.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";
import { NODE_TS } from "../e2e/mcp.js";

const DAY = 86_400_000;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 2, 1);
const ROOT = resolve(import.meta.dirname, "../..");

function lease(id: string, issuedAt: number, overrides: Partial<Lease> = {}): Lease {
  return {
    id,
    serverId: "github-mcp",
    secretPath: "github/token",
    version: 1,
    issuedAt,
    expiresAt: issuedAt + 15 * MINUTE,
    maxExpiresAt: issuedAt + DAY,
    renewable: true,
    revokedAt: null,
    revokeReason: null,
    externalLeaseId: null,
    ...overrides,
  };
}

describe("lease purge on a broker (SQLite)", () => {
  let b: TestBroker;
  let now = T0;

  beforeAll(async () => {
    b = await startTestBroker({ clock: () => now, config: { lease: { retention: "7d", purge_interval: "10m" } } });
  });
  afterAll(() => b?.close());

  it("deletes leases that ended more than 7 days ago, in batches, and keeps recent and active ones", async () => {
    const store = b.broker.store;
    // The run at start (nothing to purge yet) is over before the leases go in.
    await waitFor("the purge run at start", async () => (await store.getJobState(LEASE_PURGE_JOB))?.lastOutcome === "ok");
    // 1,200 leases that ended 8 days before the run (half expired, half revoked early).
    for (let i = 0; i < 1200; i++) {
      const issuedAt = T0 - 9 * DAY + i;
      await store.insertLease(lease(`old-${i}`, issuedAt, i % 2 === 0 ? {} : { revokedAt: issuedAt + MINUTE, revokeReason: "test" }));
    }
    // Ended 6 days before the run, revoked 6 days before the run though issued long ago, active.
    for (let i = 0; i < 5; i++) await store.insertLease(lease(`recent-${i}`, T0 - 6 * DAY - 20 * MINUTE));
    await store.insertLease(lease("revoked-recently", T0 - 9 * DAY, { expiresAt: T0 + DAY, revokedAt: T0 - 6 * DAY, revokeReason: "test" }));
    await store.insertLease(lease("active", T0, { expiresAt: T0 + 15 * MINUTE }));
    expect((await store.listLeases({})).length).toBe(1207);

    // The first run (at start) found nothing to purge; the next is due one interval later.
    now = T0 + 10 * MINUTE;
    await b.broker.jobs.runDue();
    await waitFor("the purge run", async () => (await store.getJobState(LEASE_PURGE_JOB))?.lastStartedAt === now && (await store.getJobState(LEASE_PURGE_JOB))?.owner === null);
    const left = (await store.listLeases({})).map((l) => l.id).sort();
    expect(left).toEqual(["active", "recent-0", "recent-1", "recent-2", "recent-3", "recent-4", "revoked-recently"]);
    expect(await store.getJobState(LEASE_PURGE_JOB)).toMatchObject({ lastOutcome: "ok", nextRunAt: now + 10 * MINUTE });
    const metrics = await b.broker.deps.metrics.registry.metrics();
    expect(metrics).toContain("credbroker_leases_purged_total 1200");
    expect(metrics).toContain('credbroker_job_runs_total{job="lease_purge",outcome="ok"}');
    // The API lists what is left, in one page.
    const { body } = await b.admin<{ leases: unknown[]; next_cursor: string | null }>("GET", "/v1/admin/leases?all=true");
    expect(body.leases).toHaveLength(7);
    expect(body.next_cursor).toBeNull();
  });
});

describe("lease purge job", () => {
  it("stops between batches once asked to (shutdown, lost lock), reporting what it purged", async () => {
    const controller = new AbortController();
    let calls = 0;
    const store: Pick<Store, "purgeEndedLeases"> = {
      async purgeEndedLeases(endedBefore, limit) {
        expect(endedBefore).toBe(T0 - DAY);
        calls += 1;
        if (calls === 2) controller.abort();
        return limit;
      },
    };
    const job = leasePurgeJob({ store, metrics: createMetrics() }, { retentionMs: DAY, intervalMs: MINUTE, batchSize: 10 });
    expect(await job.run({ now: () => T0, signal: controller.signal })).toEqual({ purged: 20, batches: 2 });
  });
});

describePostgres("lease purge across brokers sharing PostgreSQL", () => {
  let schema: TestSchema;
  const stores: PostgresStore[] = [];
  const open = async () => {
    const store = await openPostgresStore({ url: schema.url });
    stores.push(store);
    return store;
  };
  const silent = pino({ level: "silent" });

  /** `count` leases that ended 30 days before T0, inserted in one statement. */
  const insertEnded = (prefix: string, count: number) =>
    schema.query(
      `INSERT INTO leases (id, server_id, secret_path, version, issued_at, expires_at, max_expires_at, renewable)
       SELECT $1 || n, 'github-mcp', 'github/token', 1, $2::bigint + n, $2::bigint + n + 60000, $2::bigint + n + 86400000, true FROM generate_series(1, $3::int) AS n`,
      [prefix, T0 - 31 * DAY, count],
    );
  const leaseCount = async () => Number((await schema.query<{ n: string }>("SELECT count(*) AS n FROM leases")).rows[0]!.n);

  /** A broker's runner with the purge job, counting the deletions its purges report. */
  function broker(store: Store, owner: string, clock: () => number) {
    const counted = { deleted: 0 };
    const countingStore: Pick<Store, "purgeEndedLeases"> = {
      async purgeEndedLeases(endedBefore, limit) {
        const deleted = await store.purgeEndedLeases(endedBefore, limit);
        counted.deleted += deleted;
        return deleted;
      },
    };
    const metrics = createMetrics();
    const job = leasePurgeJob({ store: countingStore, metrics }, { retentionMs: 7 * DAY, intervalMs: 10 * MINUTE, batchSize: 100 });
    return { runner: new JobRunner({ store, clock, logger: silent, metrics }, [job], { owner, lockTtlMs: MINUTE }), counted };
  }

  beforeEach(async () => {
    schema = await createTestSchema("purge");
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await schema.drop();
  });

  it("two brokers racing: one runs each due purge, and every lease is deleted exactly once", async () => {
    let now = T0;
    const a = broker(await open(), "broker-a", () => now);
    const b = broker(await open(), "broker-b", () => now);
    await insertEnded("round1-", 2500);
    for (let round = 0; round < 4; round++) {
      if (round > 0) await insertEnded(`round${round + 1}-`, 700);
      const attempts = await Promise.all([a.runner.runDue(), b.runner.runDue()]);
      expect(attempts.flat().filter((attempt) => attempt.ran)).toHaveLength(1);
      expect(await leaseCount()).toBe(0);
      now += 10 * MINUTE;
    }
    expect(a.counted.deleted + b.counted.deleted).toBe(2500 + 3 * 700);
  });

  it("purges without the lock racing each other still delete each lease once (the statement, not only the lock, is exact)", async () => {
    const [one, two] = [await open(), await open()];
    await insertEnded("race-", 3000);
    const drain = async (store: Store) => {
      let total = 0;
      for (;;) {
        const deleted = await store.purgeEndedLeases(T0 - 7 * DAY, 150);
        total += deleted;
        if (deleted === 0) return total;
      }
    };
    const [byOne, byTwo] = await Promise.all([drain(one), drain(two)]);
    expect(byOne + byTwo).toBe(3000);
    expect(await leaseCount()).toBe(0);
  });

  it("a broker killed (kill -9) while holding the job's lock hands the job over once the lock expires", async () => {
    await open(); // migrates the schema
    await insertEnded("orphan-", 450);
    const child = spawn(NODE_TS[0], [...NODE_TS.slice(1), "test/e2e/fixtures/hold-job-lock.ts", schema.url, LEASE_PURGE_JOB], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    const exited = new Promise<NodeJS.Signals | null>((resolveExit) => child.once("exit", (_code, signal) => resolveExit(signal)));
    try {
      await waitFor("the doomed broker to hold the lock", () => out.includes('"holding"'), 60_000);
    } finally {
      child.kill("SIGKILL");
    }
    expect(await exited).toBe("SIGKILL");

    const store = await open();
    const held = await store.getJobState(LEASE_PURGE_JOB);
    expect(held?.owner).toBe(`doomed:${child.pid}`);
    const lockedUntil = held!.lockedUntil!;
    // The dead broker's lock still holds until its expiry: nobody runs the job.
    let now = lockedUntil - 1;
    const survivor = broker(store, "broker-b", () => now);
    expect(await survivor.runner.runDue()).toEqual([{ job: LEASE_PURGE_JOB, ran: false }]);
    expect(await leaseCount()).toBe(450);
    // From the instant it expires, the surviving broker takes the job over and purges.
    now = lockedUntil;
    expect(await survivor.runner.runDue()).toEqual([{ job: LEASE_PURGE_JOB, ran: true, outcome: "ok" }]);
    expect(survivor.counted.deleted).toBe(450);
    expect(await leaseCount()).toBe(0);
    expect(await store.getJobState(LEASE_PURGE_JOB)).toMatchObject({ owner: null, lastOutcome: "ok", lastStartedAt: lockedUntil });
  }, 90_000);
});
