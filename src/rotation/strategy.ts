/**
 * The rotation strategy plug-in contract. A strategy makes a new value for one secret and gets
 * it accepted by the system that checks it (a database, a cloud secret store, an operator's
 * program, a receiver of a webhook). A rotation runs four steps, each recorded durably by the
 * state machine before the next starts:
 *
 *   create   the new value is made and held as *pending*: in the backend as a staged version
 *            where the backend can stage (AWS AWSPENDING), else in the state machine's
 *            {@link PendingValues} (encrypted, beside the rotation's record)
 *   set      the target system accepts the new value (ALTER ROLE, a KV write, the hook's 2xx)
 *   test     a real login or probe with the new value
 *   finish   the new version becomes current in the backend that holds the secret path; the
 *            state machine then tells consumers
 *
 * then, when every consumer has acknowledged or the grace period has ended, `retire` (optional
 * capability {@link RetiringStrategy}) ends the previous value's validity. `rollback` undoes
 * whatever create, set and test did, and is only called before finish succeeded.
 *
 * **Crash safety (kill -9 between or inside any step).** What survives is exactly what the
 * state machine stored: the rotation id, the last step that completed, the {@link StepState}
 * it returned, and the pending value in {@link PendingValues}. So:
 * - every step is idempotent for the same rotation id: a resumed rotation calls the step that
 *   had not completed again, with the state of the one before it, and the step must notice work
 *   it already did (a staged version with this rotation id, a KV version holding the pending
 *   value, a role that already has the password) and answer as if it had just done it;
 * - a step returns everything later steps need as plain JSON data (versions, version ids, role
 *   names), never the value, and never anything only held in memory;
 * - the value itself is never in a StepState, an error, a log line or a metric: it lives in the
 *   backend's pending version or in PendingValues, and is read back from there by later steps.
 *
 * Errors (all BrokerError; messages name the strategy and its target, never a value):
 * - `backend_unavailable` (503): the target or the backend did not answer in time or refused
 *   the connection (`data.target` names it: `postgres 127.0.0.1:5432`, `webhook https://...`);
 * - `forbidden` (403): the target refused the strategy's own credentials;
 * - `rotation_failed` (502): the target answered and refused the new value or failed the step
 *   (a non-zero exit code, a 4xx from the receiver, a login with the new password that fails);
 * - `conflict` (409): the secret changed under the rotation (someone else wrote a version);
 * - `invalid_request` (400): the secret or its backend cannot be rotated this way (a vault-kv
 *   rule on a path that is not on a Vault mount, a current value that is not the JSON expected).
 */
import type { SecretBackend } from "../backends/backend.js";
import type { StrategyKind, StrategyOptions } from "../policy/rotation-options.js";

export type { StrategyKind } from "../policy/rotation-options.js";

/** Plain JSON data, as the state machine stores it between steps. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * What a step hands to the next, persisted by the state machine. Never holds a secret value.
 * Strategies validate what they get back (it comes from the database after a restart).
 */
export type StepState = { readonly [key: string]: JsonValue };

/**
 * Where a rotation's pending value waits between create and finish when the backend cannot
 * stage it. The state machine implements it durably (encrypted like a local secret version,
 * bound to the rotation id) and drops the value once the rotation has finished or rolled back.
 */
export interface PendingValues {
  /**
   * Keeps `value` for `rotationId` unless one is kept already, and answers the kept value:
   * the first write wins, so a create that runs again after a crash keeps using the first value.
   */
  keep(rotationId: string, value: Buffer): Promise<Buffer>;
  /** The kept value, or undefined when there is none (never kept, or dropped). */
  read(rotationId: string): Promise<Buffer | undefined>;
}

/** Reads the broker secrets a strategy authenticates with (a database password, a signing key). */
export interface BrokerSecrets {
  /**
   * The current value of `path`. Throws BrokerError `not_found` when there is none, and whatever
   * the backend throws (`backend_unavailable`, `forbidden`) when it cannot answer.
   */
  read(path: string): Promise<Buffer>;
}

/** Everything a step may use: narrowed, so a strategy cannot reach anything else. */
export interface RotationContext<K extends StrategyKind = StrategyKind> {
  /** The rotation's id (a UUID, 36 characters): the idempotency key of every step. */
  readonly rotationId: string;
  /** The broker path of the secret being rotated, e.g. `prod/db/app` (never with `#key`). */
  readonly secretPath: string;
  /** The backend that holds the secret path and the location inside it. */
  readonly holder: { readonly backend: SecretBackend; readonly location: string };
  /** The rule's options for this strategy, as policy validated them. */
  readonly options: StrategyOptions<K>;
  /** The rule's grace, in seconds; 0 when it sets none. */
  readonly graceSeconds: number;
  readonly secrets: BrokerSecrets;
  readonly pending: PendingValues;
  /** Aborts the step (shutdown, an operator's cancel); every call out honours it. */
  readonly signal: AbortSignal;
  /** ms since the epoch. */
  readonly clock: () => number;
}

/** What finish answers: the broker version that is now current. */
export interface FinishResult {
  readonly version: number;
  readonly state: StepState;
}

/** One strategy. Every method is idempotent for the same rotation id (see the module comment). */
export interface RotationStrategy<K extends StrategyKind> {
  readonly kind: K;
  /** Makes the new value and holds it as pending. */
  create(context: RotationContext<K>): Promise<StepState>;
  /** Gets the target system to accept the pending value. */
  set(context: RotationContext<K>, state: StepState): Promise<StepState>;
  /** Proves the new value works (a login, a probe, a read back). */
  test(context: RotationContext<K>, state: StepState): Promise<StepState>;
  /** Makes the new version current in the backend that holds the secret. */
  finish(context: RotationContext<K>, state: StepState): Promise<FinishResult>;
  /**
   * Undoes create/set/test so the current value keeps working, from the state of the last
   * completed step (`{}` when create had not completed). Only before finish has succeeded.
   */
  rollback(context: RotationContext<K>, state: StepState): Promise<void>;
}

/**
 * Strategies that must act when the previous value stops being valid (the grace period ended or
 * every consumer acknowledged): e.g. the previous role of an alternation stops logging in.
 * Strategies without it need nothing done: the previous version simply stops being served.
 */
export interface RetiringStrategy<K extends StrategyKind> extends RotationStrategy<K> {
  /** Ends the previous value's validity, from finish's state. Idempotent. */
  retire(context: RotationContext<K>, state: StepState): Promise<void>;
}

export function isRetiring<K extends StrategyKind>(strategy: RotationStrategy<K>): strategy is RetiringStrategy<K> {
  return typeof (strategy as Partial<RetiringStrategy<K>>).retire === "function";
}
