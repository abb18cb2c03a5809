/**
 * The one runner of background jobs (lease purge now; rotation schedule, dynamic revocation,
 * soft-delete destruction next). Every broker runs a runner over the same jobs; a job runs only on
 * the broker that holds its lock in the shared database (`job_locks`, see docs/design/jobs.md), so
 * each due run happens once across all brokers. The lock is renewed while the run lasts and is
 * taken over by another broker once it expires, so a broker that dies mid-run hands the job over.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { JobOutcome } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../store/store.js";

/** What a run may use besides its own dependencies. */
export interface JobContext {
  /** The runner's clock, ms (injected in tests). */
  now(): number;
  /**
   * Aborted when the runner stops or the lock was lost (another broker took the job over): the
   * job stops at its next safe point, between two steps. A run that ends after an abort is
   * recorded as `interrupted`.
   */
  signal: AbortSignal;
}

/**
 * A named background job. `run` does one round of work (bounded steps, checking `signal` between
 * them) and resolves with counts worth logging (never a secret, never a value); it throws on
 * failure. Jobs must be idempotent: a run interrupted by a dying broker is run again in full.
 */
export interface Job {
  /** Stable name: the lock's key, the `job` metric label and log field. `[a-z][a-z0-9_]*`. */
  readonly name: string;
  /** Time from the end of one run (on any broker) to when the next is due, ms. */
  readonly intervalMs: number;
  run(context: JobContext): Promise<Record<string, number>>;
}

export interface JobRunnerDeps {
  store: Pick<Store, "acquireJobLock" | "renewJobLock" | "finishJobRun">;
  clock: () => number;
  logger: Logger;
  metrics: Pick<Metrics, "jobRuns" | "jobDuration">;
}

export interface JobRunnerOptions {
  /** This runner's name in `job_locks.owner`; default `host:pid:random`, unique per runner. */
  owner?: string;
  /** How long a lock holds without renewal, ms (default 60 s); renewed every third of it. */
  lockTtlMs?: number;
  /** How often the started runner looks for due jobs, ms (default 5 s). */
  pollMs?: number;
}

/** What one attempt at a job did: ran it (with the outcome), or skipped it (not due, or held by another broker). */
export type JobAttempt = { job: string; ran: true; outcome: JobOutcome } | { job: string; ran: false };

const JOB_NAME = /^[a-z][a-z0-9_]{0,62}$/;

export class JobRunner {
  readonly owner: string;
  private readonly lockTtlMs: number;
  private readonly pollMs: number;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<JobAttempt> }>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly deps: JobRunnerDeps,
    private readonly jobs: readonly Job[],
    options: JobRunnerOptions = {},
  ) {
    const names = new Set<string>();
    for (const job of jobs) {
      if (!JOB_NAME.test(job.name)) throw new TypeError(`invalid job name ${JSON.stringify(job.name)}`);
      if (names.has(job.name)) throw new TypeError(`job ${job.name} given twice`);
      if (!(job.intervalMs > 0)) throw new TypeError(`job ${job.name} needs a positive interval`);
      names.add(job.name);
    }
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.lockTtlMs = options.lockTtlMs ?? 60_000;
    this.pollMs = options.pollMs ?? 5_000;
    if (!(this.lockTtlMs >= 3) || !(this.pollMs > 0)) throw new TypeError("lockTtlMs and pollMs must be positive");
  }

  /**
   * Looks for due jobs now and then every `pollMs` until {@link stop}. A poll does not wait for the
   * runs it starts: a long run of one job never delays another job's turn.
   */
  start(): void {
    if (this.stopped || this.timer) return;
    const poll = () => {
      this.runDue().catch((error: unknown) => this.deps.logger.error({ err: describe(error) }, "job runner poll failed"));
      if (!this.stopped) this.timer = setTimeout(poll, this.pollMs).unref();
    };
    this.timer = setTimeout(poll, 0).unref();
  }

  /**
   * Tries every job that is not already running here: runs those that are due and whose lock it
   * takes, and resolves once those runs finished. A job already running here (from an earlier
   * call) is skipped at once. A storage failure while taking a lock skips that job (it is tried
   * again at the next poll).
   */
  async runDue(): Promise<JobAttempt[]> {
    return Promise.all(
      this.jobs.map((job) => {
        if (this.stopped || this.running.has(job.name)) return Promise.resolve<JobAttempt>({ job: job.name, ran: false });
        const controller = new AbortController();
        const done = this.attempt(job, controller).finally(() => this.running.delete(job.name));
        this.running.set(job.name, { controller, done });
        return done;
      }),
    );
  }

  /** Stops polling, asks running jobs to stop, and resolves once each released its lock (next run due at once, on any broker). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const inFlight = [...this.running.values()];
    for (const { controller } of inFlight) controller.abort();
    await Promise.all(inFlight.map(({ done }) => done));
  }

  private async attempt(job: Job, controller: AbortController): Promise<JobAttempt> {
    const { store, clock, logger } = this.deps;
    const startedAt = clock();
    try {
      if (!(await store.acquireJobLock(job.name, this.owner, startedAt, startedAt + this.lockTtlMs))) return { job: job.name, ran: false };
    } catch (error) {
      logger.warn({ job: job.name, err: describe(error) }, "could not take a job lock; trying again later");
      return { job: job.name, ran: false };
    }
    const renewal = setInterval(() => {
      const now = clock();
      store.renewJobLock(job.name, this.owner, now, now + this.lockTtlMs).then(
        (held) => {
          if (held || controller.signal.aborted) return;
          logger.warn({ job: job.name, owner: this.owner }, "job lock lost (expired or taken over); stopping the run");
          controller.abort();
        },
        // A failed renewal is retried at the next tick; the lock expires if storage stays away.
        (error: unknown) => logger.warn({ job: job.name, err: describe(error) }, "could not renew a job lock"),
      );
    }, Math.floor(this.lockTtlMs / 3)).unref();
    const began = performance.now();
    let outcome: JobOutcome;
    let summary: Record<string, number> = {};
    try {
      summary = await job.run({ now: clock, signal: controller.signal });
      outcome = controller.signal.aborted ? "interrupted" : "ok";
    } catch (error) {
      outcome = controller.signal.aborted ? "interrupted" : "error";
      logger.error({ job: job.name, err: describe(error) }, "job run failed");
    } finally {
      clearInterval(renewal);
    }
    const seconds = (performance.now() - began) / 1000;
    this.deps.metrics.jobRuns.inc({ job: job.name, outcome });
    this.deps.metrics.jobDuration.observe({ job: job.name }, seconds);
    const finishedAt = clock();
    // Interrupted (shutdown, lost lock): due again at once, so another broker picks it up.
    const nextRunAt = outcome === "interrupted" ? finishedAt : finishedAt + job.intervalMs;
    let recorded = false;
    try {
      recorded = await store.finishJobRun(job.name, this.owner, finishedAt, outcome, nextRunAt);
    } catch (error) {
      logger.warn({ job: job.name, err: describe(error) }, "could not record a job run; its lock expires on its own");
    }
    logger.info({ job: job.name, outcome, duration_ms: Math.round(seconds * 1000), recorded, ...summary }, "job run finished");
    return { job: job.name, ran: true, outcome };
  }
}

/** An error for a log line: its code and public message, never a stack or driver detail with row values. */
function describe(error: unknown): string {
  if (error instanceof BrokerError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.name : "unknown error";
}
