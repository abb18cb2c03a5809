/**
 * The rotation state machine: runs a rule's strategy through create → set → test → finish for
 * one secret, recording each completed step (and the StepState it returned) in the `rotations`
 * row before the next step starts, so a broker killed at any point leaves enough for another
 * (or itself, restarted) to carry on.
 *
 * Guarantees:
 * - at most one active rotation per secret (the store refuses a second with `conflict`);
 * - the pending value lives only in the backend's staged version or in PendingValues (never in a
 *   secret version) until finish, so no read path serves it before then;
 * - a failed create, set, test or finish calls the strategy's rollback from the last recorded
 *   state, and the rotation ends `rolled_back` (the old version stays current); when rollback
 *   itself fails it ends `failed` and keeps its pending value (after set the target may hold
 *   only the new value, and the kept copy is the way back);
 * - only the broker holding the row (`owner`, until its lease) records anything; a broker whose
 *   hold was taken over stops with `conflict` and touches nothing more.
 *
 * Resuming (`resume`, at broker start): a running rotation whose holder's lease has passed is
 * taken over and continued from its last recorded step, because every step is idempotent for
 * the rotation id (strategy.ts):
 *
 *   last recorded   what resume does
 *   (none)          create again (the kept pending value and a staged version are found again)
 *   create          set again, with create's state
 *   set             test again, with set's state
 *   test            finish again, with test's state
 *   finish          ends the rotation as done (the version is in finish's state)
 *
 * A step that fails because the machine's signal aborted it (shutdown) is not rolled back: the
 * rotation stays running, and the next broker to resume after the hold passes carries it on.
 *
 * A resumed step that fails rolls back as above. A rotation whose secret no longer has a rule of
 * the same strategy cannot be continued or rolled back (the options are gone), nor one whose
 * recorded state is not a JSON object (a damaged row): it ends `failed` with `conflict`, its
 * pending value kept.
 *
 * Every transition is audited (`rotation.start`, `rotation.step`, `rotation.finish`,
 * `rotation.fail`, `rotation.rollback`) with the secret, the version, the strategy, the rule and
 * the rotation id, never a value; an audit record that cannot be written stops the rotation where
 * it is (it stays running and is resumed later), so no step runs unaudited.
 */
import { randomUUID } from "node:crypto";

import type { MountTable } from "../backends/mounts.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry } from "../audit/entry.js";
import type { AuditOutcome, RotationRecord, RotationStep } from "../domain.js";
import { BrokerError } from "../errors.js";
import { isValidSecretPath } from "../policy/glob.js";
import type { RotationRule } from "../policy/types.js";
import type { Store } from "../store/store.js";
import { strategyFor as registeredStrategyFor, type BoundStrategy, type StepContext } from "./registry.js";
import type { BrokerSecrets, PendingValues, StepState } from "./strategy.js";

/** How long a broker's hold on a running rotation lasts without a step being recorded (ms). */
const DEFAULT_LEASE_MS = 5 * 60_000;

export interface RotationMachineDeps {
  store: Pick<Store, "insertRotation" | "getRotation" | "listRotations" | "claimRotation" | "recordRotationStep" | "endRotation">;
  mounts: Pick<MountTable, "resolve">;
  secrets: BrokerSecrets;
  pending: PendingValues;
  audit: Pick<AuditWriter, "record">;
  /** ms since the epoch. */
  clock: () => number;
  /** This broker instance's id, as holder of the rotations it runs. */
  owner: string;
  /** A hold's length in ms, renewed at every step (default 5 minutes). */
  leaseMs?: number;
  /** The strategy of a rule (default: the registry's). */
  strategyFor?: (config: RotationRule["strategy"]) => BoundStrategy;
  /** Aborts running steps (shutdown). */
  signal?: AbortSignal;
}

/** `file:line#index` of a rule, as rotations and audit records name it. */
function ruleRefOf(rule: Pick<RotationRule, "ref">): string {
  return `${rule.ref.file}:${rule.ref.line}#${rule.ref.index}`;
}

const NEXT: Record<RotationStep | "none", RotationStep | undefined> = { none: "create", create: "set", set: "test", test: "finish", finish: undefined };

export class RotationMachine {
  private readonly leaseMs: number;
  private readonly strategyFor: (config: RotationRule["strategy"]) => BoundStrategy;
  private readonly signal: AbortSignal;

  constructor(private readonly deps: RotationMachineDeps) {
    this.leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
    this.strategyFor = deps.strategyFor ?? registeredStrategyFor;
    this.signal = deps.signal ?? new AbortController().signal;
  }

  /**
   * Rotates `secretPath` by `rule` now and answers the ended rotation (`done` with the new
   * version, or `rolled_back`/`failed` with the error code that ended it).
   *
   * @param attempt 1 for a first try; a retry after a failure passes the count (default 1).
   * @throws BrokerError `invalid_path` for a malformed path or a `#key` selection (nothing
   *   recorded); `conflict` when the secret already has an active rotation, or when
   *   another broker took this one over; `audit_unavailable` when a transition cannot be audited
   *   (the rotation then stays running, to be resumed).
   */
  async start(secretPath: string, rule: RotationRule, attempt = 1): Promise<RotationRecord> {
    // A rotation acts on one whole secret: a malformed path (or a `#key` selection) never gets a row.
    if (!isValidSecretPath(secretPath) || secretPath.includes("#")) {
      throw new BrokerError("invalid_path", `cannot rotate ${JSON.stringify(secretPath)}: a secret path is segments of letters, digits and ._+=@- joined by "/", without "#key"`);
    }
    const now = this.deps.clock();
    const rotation: RotationRecord = {
      id: randomUUID(),
      secretPath,
      strategy: rule.strategy.kind,
      ruleRef: ruleRefOf(rule),
      state: "running",
      lastStep: null,
      stepState: "{}",
      attempt,
      errorCode: null,
      version: null,
      owner: this.deps.owner,
      leaseUntil: now + this.leaseMs,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
    };
    await this.deps.store.insertRotation(rotation).catch((error: unknown) => {
      if (error instanceof BrokerError && error.code === "conflict") {
        throw new BrokerError("conflict", `secret ${secretPath} already has a rotation pending or running`, { cause: error });
      }
      throw error;
    });
    await this.audit(rotation, "rotation.start", "allowed", `attempt ${attempt}`, null);
    return this.run(rotation, rule);
  }

  /**
   * Takes over every running rotation whose holder's lease has passed (its broker died) and
   * carries each on from its last recorded step (see the module comment). `ruleFor` answers the
   * secret's rotation rule under the current policy. Answers the rotations as they ended; one
   * another broker took first, or took over from this one while it ran, is left out.
   */
  async resume(ruleFor: (secretPath: string) => RotationRule | undefined): Promise<RotationRecord[]> {
    const ended: RotationRecord[] = [];
    for (const found of await this.deps.store.listRotations({ states: ["pending", "running"] })) {
      const now = this.deps.clock();
      if (!(await this.deps.store.claimRotation(found.id, this.deps.owner, now, now + this.leaseMs))) continue;
      const rotation: RotationRecord = { ...found, state: "running", owner: this.deps.owner, leaseUntil: now + this.leaseMs };
      const rule = ruleFor(rotation.secretPath);
      if (rule === undefined || rule.strategy.kind !== rotation.strategy) {
        const why = rule === undefined ? "the secret has no rotation rule any more" : `the secret's rule now uses strategy ${rule.strategy.kind}`;
        ended.push(await this.end(rotation, "failed", "conflict", null, true, `cannot resume after step ${rotation.lastStep ?? "none"}: ${why}`));
        continue;
      }
      if (stepStateOf(rotation.stepState) === undefined) {
        ended.push(await this.end(rotation, "failed", "conflict", null, true, `cannot resume after step ${rotation.lastStep ?? "none"}: its recorded state is not readable`));
        continue;
      }
      await this.audit(rotation, "rotation.step", "allowed", `resumed after step ${rotation.lastStep ?? "none"}`, null);
      try {
        ended.push(await this.run(rotation, rule));
      } catch (error) {
        // Another broker carries this one on now; the others still need resuming.
        if (!(error instanceof BrokerError && takenOver.has(error))) throw error;
      }
    }
    return ended;
  }

  /** Runs the steps after `rotation.lastStep`, recording each; rolls back on a failure. */
  private async run(rotation: RotationRecord, rule: RotationRule): Promise<RotationRecord> {
    const strategy = this.strategyFor(rule.strategy);
    const context = this.contextOf(rotation, rule);
    let state = stepStateOf(rotation.stepState) ?? {};
    let last = rotation.lastStep;
    let version: number | null = null;
    for (let step = NEXT[last ?? "none"]; step !== undefined; step = NEXT[step]) {
      try {
        if (step === "finish") {
          const finished = await strategy.finish(context, state);
          version = finished.version;
          // Recorded with the state, so a broker that dies right after finish leaves the version behind.
          state = { ...finished.state, version };
        } else {
          state = await strategy[step](context, state);
        }
      } catch (error) {
        // Shutdown, not a failure: the rotation stays running and is resumed after its hold passes.
        if (this.signal.aborted) throw error;
        return this.rollBack({ ...rotation, lastStep: last, stepState: JSON.stringify(state) }, strategy, context, state, step, error);
      }
      await this.record(rotation, step, state);
      last = step;
      await this.audit(rotation, "rotation.step", "allowed", `step ${step} done`, step === "finish" ? version : null);
    }
    // Finish recorded before a crash: its state carries the version it made current.
    if (version === null && typeof state["version"] === "number") version = state["version"];
    return this.end({ ...rotation, lastStep: last, stepState: JSON.stringify(state) }, "done", null, version, false, "new version current");
  }

  private async rollBack(
    rotation: RotationRecord,
    strategy: BoundStrategy,
    context: StepContext,
    state: StepState,
    failedStep: RotationStep,
    error: unknown,
  ): Promise<RotationRecord> {
    const code = error instanceof BrokerError ? error.code : "internal";
    try {
      await strategy.rollback(context, state);
    } catch (rollbackError) {
      const rollbackCode = rollbackError instanceof BrokerError ? rollbackError.code : "internal";
      return this.end(rotation, "failed", code, null, true, `step ${failedStep} failed (${code}); rollback failed (${rollbackCode}): pending value kept`);
    }
    await this.audit(rotation, "rotation.fail", "error", `step ${failedStep} failed (${code})`, null);
    return this.end(rotation, "rolled_back", code, null, false, `rolled back after step ${failedStep} failed (${code})`);
  }

  /** Records a completed step; a hold that was taken over stops this broker here. */
  private async record(rotation: RotationRecord, step: RotationStep, state: StepState): Promise<void> {
    const now = this.deps.clock();
    if (!(await this.deps.store.recordRotationStep(rotation.id, this.deps.owner, step, JSON.stringify(state), now, now + this.leaseMs))) {
      throw lostHold(rotation);
    }
  }

  private async end(
    rotation: RotationRecord,
    state: "done" | "failed" | "rolled_back",
    errorCode: string | null,
    version: number | null,
    keepPending: boolean,
    reason: string,
  ): Promise<RotationRecord> {
    const now = this.deps.clock();
    if (!(await this.deps.store.endRotation(rotation.id, this.deps.owner, { state, errorCode, version, now, keepPending }))) throw lostHold(rotation);
    const action = state === "done" ? "rotation.finish" : state === "rolled_back" ? "rotation.rollback" : "rotation.fail";
    await this.audit(rotation, action, state === "done" ? "allowed" : "error", reason, version);
    const ended = await this.deps.store.getRotation(rotation.id);
    if (ended === undefined) throw new BrokerError("internal", `rotation ${rotation.id} vanished after it ended`);
    return ended;
  }

  private contextOf(rotation: RotationRecord, rule: RotationRule): StepContext {
    return {
      rotationId: rotation.id,
      secretPath: rotation.secretPath,
      holder: this.deps.mounts.resolve(rotation.secretPath),
      graceSeconds: rule.graceSeconds ?? 0,
      secrets: this.deps.secrets,
      pending: this.deps.pending,
      signal: this.signal,
      clock: this.deps.clock,
    };
  }

  private async audit(rotation: RotationRecord, action: string, outcome: AuditOutcome, what: string, version: number | null): Promise<void> {
    const reason = `rotation ${rotation.id}, strategy ${rotation.strategy}, rule ${rotation.ruleRef}: ${what}`;
    await this.deps.audit.record(
      auditEntry({ id: "system", kind: "system" }, { requestId: null, sourceIp: null }, { action, resource: rotation.secretPath, outcome, reason, version }, this.deps.clock()),
    );
  }
}

/** A recorded step state, or undefined when the text is not a JSON object (a damaged row). */
function stepStateOf(text: string): StepState | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as StepState) : undefined;
  } catch {
    return undefined;
  }
}

/** The errors {@link lostHold} made, so resume tells a takeover from other conflicts. */
const takenOver = new WeakSet<object>();

function lostHold(rotation: RotationRecord): BrokerError {
  const error = new BrokerError("conflict", `rotation ${rotation.id} of ${rotation.secretPath} is held by another broker now; this broker stops it here`);
  takenOver.add(error);
  return error;
}
