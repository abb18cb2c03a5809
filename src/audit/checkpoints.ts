/**
 * Background checkpoint writing, self-contained: the composition root starts it and stops it.
 * A checkpoint is taken after `everyRecords` records written by this broker, at least every
 * `intervalMs` while records are written, and at a clean stop. Each one first appends an
 * `audit.checkpoint` record, then signs that record's seq and hash (so the checkpoint covers its
 * own record) and hands the signed checkpoint to every sink. A sink that fails is reported and
 * the broker goes on: checkpoints strengthen the chain, requests never wait for them.
 */
import type { AuditRecord } from "../domain.js";
import type { Store } from "../store/store.js";
import { auditEntry } from "./entry.js";
import type { CheckpointSigner, SignedCheckpoint } from "./checkpoint.js";
import type { CheckpointSink } from "./sinks/sink.js";
import type { AuditWriter } from "./writer.js";

export interface CheckpointDeps {
  audit: Pick<AuditWriter, "record">;
  signer: CheckpointSigner;
  sinks: readonly CheckpointSink[];
  clock: () => number;
  /** A sink refused a checkpoint (or the checkpoint's record could not be written). */
  onFailure: (what: string, error: unknown) => void;
}

export interface CheckpointSchedule {
  /** Records written by this broker between checkpoints, at least 1. */
  everyRecords: number;
  /** Longest time between checkpoints while records are written, milliseconds. */
  intervalMs: number;
}

export interface RunningCheckpoints {
  /** Tells the schedule that `count` records were committed (the audit writer's hook). */
  noteCommitted(count: number): void;
  /**
   * Takes a checkpoint now (after any in progress); resolves with it, or undefined when there is
   * no sink or its record could not be written. `reason` goes into the record.
   */
  checkpoint(reason: string): Promise<SignedCheckpoint | undefined>;
  /** Stops the timer, takes a last checkpoint when records were written since the previous one, and closes the sinks. */
  stop(): Promise<void>;
}

/** Starts the schedule; with no sink it only counts, and every checkpoint is undefined. */
export function startCheckpoints(deps: CheckpointDeps, schedule: CheckpointSchedule): RunningCheckpoints {
  let sinceLast = 0;
  let running: Promise<SignedCheckpoint | undefined> = Promise.resolve(undefined);
  let stopped = false;

  const take = (reason: string): Promise<SignedCheckpoint | undefined> => {
    running = running.then(async () => {
      if (deps.sinks.length === 0) return undefined;
      let record: AuditRecord;
      try {
        record = await deps.audit.record(
          auditEntry({ id: "system", kind: "system" }, { requestId: null, sourceIp: null }, { action: "audit.checkpoint", resource: "audit", outcome: "allowed", reason }, deps.clock()),
        );
      } catch (error) {
        deps.onFailure("the audit.checkpoint record", error);
        return undefined;
      }
      sinceLast = 0;
      const signed = deps.signer.sign({ seq: record.seq, hash: record.hash }, deps.clock());
      await Promise.all(deps.sinks.map((sink) => sink.write(signed).catch((error: unknown) => deps.onFailure(sink.description, error))));
      return signed;
    });
    return running;
  };

  const timer = setInterval(() => {
    if (sinceLast > 0) void take("interval");
  }, schedule.intervalMs);
  timer.unref();

  return {
    noteCommitted(count) {
      sinceLast += count;
      if (sinceLast >= schedule.everyRecords && !stopped) {
        sinceLast = 0;
        void take(`every ${schedule.everyRecords} records`);
      }
    },
    checkpoint: take,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await running;
      if (sinceLast > 0) await take("shutdown");
      await Promise.all(deps.sinks.map((sink) => sink.close()));
    },
  };
}
