/**
 * The job runner over a real SQLite store and a frozen clock: a due job runs once, on the runner
 * holding its lock; a second runner on the same database skips it while the lock is held and
 * until the interval has passed; a failure is recorded and counted; stopping interrupts a run and
 * hands the lock back at once; a run whose lock was taken over is told to stop. Log lines name
 * jobs and outcomes, never error detail beyond a code.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { pino } from "pino";
import { BrokerError } from "../../src/errors.js";
import { JobRunner, type Job, type JobContext } from "../../src/jobs/runner.js";
import { createMetrics, type Metrics } from "../../src/metrics.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";
import { waitFor } from "../helpers/wait.js";

const T0 = Date.UTC(2026, 5, 1);
const MINUTE = 60_000;

/** A job whose runs the test starts and ends by hand. */
function gatedJob(name = "sample", intervalMs = 10 * MINUTE) {
  const runs: Array<{ context: JobContext; finish: (result?: Error) => void }> = [];
  const job: Job = {
    name,
    intervalMs,
    run: (context) =>
      new Promise((resolve, reject) => {
        runs.push({ context, finish: (error) => (error ? reject(error) : resolve({ handled: runs.length })) });
      }),
  };
  return { job, runs };
}

/** A job that does nothing and resolves at once, counting its runs. */
function countingJob(name = "sample", intervalMs = 10 * MINUTE) {
  const state = { runs: 0 };
  const job: Job = { name, intervalMs, run: async () => ({ round: ++state.runs }) };
  return { job, state };
}


describe("job runner", () => {
  let temp: TempStore;
  let now: number;
  let lines: Array<Record<string, unknown>>;
  let metrics: Metrics;
  const clock = () => now;
  const logger = () =>
    pino(
      { level: "debug" },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
          done();
        },
      }),
    );
  const runner = (jobs: Job[], owner: string) => new JobRunner({ store: temp.store, clock, logger: logger(), metrics }, jobs, { owner, lockTtlMs: MINUTE });

  beforeEach(() => {
    temp = openTempStore("jobs");
    now = T0;
    lines = [];
    metrics = createMetrics();
  });
  afterEach(() => temp.close());

  it("runs a due job once across two runners and records the run", async () => {
    const { job, state } = countingJob();
    const a = runner([job], "broker-a");
    const b = runner([job], "broker-b");
    expect(await a.runDue()).toEqual([{ job: "sample", ran: true, outcome: "ok" }]);
    expect(await b.runDue()).toEqual([{ job: "sample", ran: false }]);
    expect(state.runs).toBe(1);
    expect(await temp.store.getJobState("sample")).toMatchObject({ owner: null, lastOutcome: "ok", lastStartedAt: T0, nextRunAt: T0 + 10 * MINUTE });
    now = T0 + 10 * MINUTE - 1;
    expect((await b.runDue())[0]!.ran).toBe(false);
    now = T0 + 10 * MINUTE;
    expect(await b.runDue()).toEqual([{ job: "sample", ran: true, outcome: "ok" }]);
    expect(state.runs).toBe(2);
    expect(await metrics.registry.getSingleMetricAsString("credbroker_job_runs_total")).toContain('credbroker_job_runs_total{job="sample",outcome="ok"} 2');
    expect(lines.filter((line) => line.msg === "job run finished")).toEqual([
      expect.objectContaining({ job: "sample", outcome: "ok", round: 1, recorded: true }),
      expect.objectContaining({ job: "sample", outcome: "ok", round: 2, recorded: true }),
    ]);
  });

  it("skips a job while another runner's run holds its lock, and takes it over once that lock expires", async () => {
    const { job, runs } = gatedJob();
    const a = runner([job], "broker-a");
    const b = runner([job], "broker-b");
    const first = a.runDue();
    await waitFor("broker-a's run", () => runs.length === 1);
    expect(await b.runDue()).toEqual([{ job: "sample", ran: false }]);
    // broker-a stops renewing (its renewal timer runs every 20 s of real time, far beyond this test).
    now = T0 + MINUTE;
    const second = b.runDue();
    await waitFor("broker-b's run", () => runs.length === 2);
    expect((await temp.store.getJobState("sample"))?.owner).toBe("broker-b");
    runs[1]!.finish();
    expect(await second).toEqual([{ job: "sample", ran: true, outcome: "ok" }]);
    // broker-a's late end records nothing: the job's state stays broker-b's.
    runs[0]!.finish();
    expect(await first).toEqual([{ job: "sample", ran: true, outcome: "ok" }]);
    expect(await temp.store.getJobState("sample")).toMatchObject({ owner: null, lastOutcome: "ok", nextRunAt: T0 + 11 * MINUTE });
    expect(lines.find((line) => line.msg === "job run finished" && line.recorded === false)).toBeDefined();
  });

  it("records a failed run as error, counts it, logs the code only, and runs it again after the interval", async () => {
    let fail = true;
    const job: Job = {
      name: "flaky",
      intervalMs: MINUTE,
      run: async () => {
        if (fail) throw new BrokerError("storage_unavailable", "storage unavailable", { detail: "row value s3cr3t" });
        return {};
      },
    };
    const a = runner([job], "broker-a");
    expect(await a.runDue()).toEqual([{ job: "flaky", ran: true, outcome: "error" }]);
    expect(await temp.store.getJobState("flaky")).toMatchObject({ lastOutcome: "error", nextRunAt: T0 + MINUTE });
    expect(await metrics.registry.getSingleMetricAsString("credbroker_job_runs_total")).toContain('outcome="error"} 1');
    const failure = lines.find((line) => line.msg === "job run failed");
    expect(failure).toMatchObject({ job: "flaky", err: "storage_unavailable: storage unavailable" });
    expect(JSON.stringify(lines)).not.toContain("s3cr3t");
    fail = false;
    now = T0 + MINUTE;
    expect(await a.runDue()).toEqual([{ job: "flaky", ran: true, outcome: "ok" }]);
  });

  it("stop() interrupts a running job, waits for it, and leaves it due at once for any broker", async () => {
    const { job, runs } = gatedJob();
    const a = runner([job], "broker-a");
    const running = a.runDue();
    await waitFor("the run", () => runs.length === 1);
    expect(runs[0]!.context.signal.aborted).toBe(false);
    now = T0 + 5;
    const stopped = a.stop();
    expect(runs[0]!.context.signal.aborted).toBe(true);
    runs[0]!.finish();
    await stopped;
    expect(await running).toEqual([{ job: "sample", ran: true, outcome: "interrupted" }]);
    expect(await temp.store.getJobState("sample")).toMatchObject({ owner: null, lastOutcome: "interrupted", nextRunAt: T0 + 5 });
    expect(await a.runDue()).toEqual([{ job: "sample", ran: false }]);
    const b = runner([job], "broker-b");
    const taken = b.runDue();
    await waitFor("broker-b's run", () => runs.length === 2);
    runs[1]!.finish();
    expect(await taken).toEqual([{ job: "sample", ran: true, outcome: "ok" }]);
  });

  it("tells a run to stop when its renewal finds the lock taken over, and records it as interrupted only for the new holder", async () => {
    const { job, runs } = gatedJob();
    // A lock of 30 ms is renewed every 10 ms of real time; the frozen clock decides when it expires.
    const a = new JobRunner({ store: temp.store, clock, logger: logger(), metrics }, [job], { owner: "broker-a", lockTtlMs: 30 });
    const first = a.runDue();
    await waitFor("broker-a's run", () => runs.length === 1);
    now = T0 + 30;
    const b = runner([job], "broker-b");
    const second = b.runDue();
    await waitFor("broker-b's run", () => runs.length === 2);
    await waitFor("broker-a told to stop", () => runs[0]!.context.signal.aborted);
    expect(lines.find((line) => line.msg === "job lock lost (expired or taken over); stopping the run")).toMatchObject({ job: "sample", owner: "broker-a" });
    runs[0]!.finish();
    expect(await first).toEqual([{ job: "sample", ran: true, outcome: "interrupted" }]);
    expect((await temp.store.getJobState("sample"))?.owner).toBe("broker-b");
    runs[1]!.finish();
    expect(await second).toEqual([{ job: "sample", ran: true, outcome: "ok" }]);
  });

  it("skips a job already running here at once, so a long run never holds up another job's turn", async () => {
    const slow = gatedJob("slow");
    const quick = countingJob("quick", MINUTE);
    const a = runner([slow.job, quick.job], "broker-a");
    const first = a.runDue();
    await waitFor("the slow run", () => slow.runs.length === 1);
    now = T0 + MINUTE;
    expect(await a.runDue()).toEqual([
      { job: "slow", ran: false },
      { job: "quick", ran: true, outcome: "ok" },
    ]);
    expect(quick.state.runs).toBe(2);
    slow.runs[0]!.finish();
    expect(await first).toEqual([
      { job: "slow", ran: true, outcome: "ok" },
      { job: "quick", ran: true, outcome: "ok" },
    ]);
  });

  it("refuses jobs without a valid name or interval (misuse)", () => {
    const { job } = countingJob();
    expect(() => runner([job, job], "x")).toThrow(TypeError);
    expect(() => runner([{ ...job, name: "Bad Name" }], "x")).toThrow(TypeError);
    expect(() => runner([{ ...job, intervalMs: 0 }], "x")).toThrow(TypeError);
  });
});
