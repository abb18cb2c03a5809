import { timingSafeEqual } from "node:crypto";

import { hasStagedRotation, isCaching, isWritable, type BackendValue, type StagedVersion } from "../backends/backend.js";
import { BrokerError } from "../errors.js";
import type { RotationContext } from "./strategy.js";

/**
 * The backend that holds the secret path, seen from a rotation: the new value is held as pending
 * (staged in the backend when it can stage, else in the state machine's PendingValues) and later
 * published as the current version. Shared by every strategy whose value the broker makes.
 */

/** What the holder helpers use of a step's context. */
export type HolderContext = Pick<RotationContext, "rotationId" | "secretPath" | "holder" | "pending">;

/** Who writes rotated versions, in the backend's version metadata. */
const ROTATION_WRITER = "rotation";

/** What create records about the holder: the version current before, and the staged one if any. */
export interface Held {
  /** The version current when create ran; 0 when the secret had none. */
  readonly baseVersion: number;
  readonly staged: StagedVersion | undefined;
}

/**
 * The current version as the backend has it now: a remote mount's cache is dropped first, since
 * a rotation deciding on a stale version would overwrite or misjudge another writer's version.
 */
export function readCurrent(context: Pick<HolderContext, "holder">): Promise<BackendValue | undefined> {
  const { backend, location } = context.holder;
  if (isCaching(backend)) backend.invalidate(location);
  return backend.read(location);
}

/**
 * Keeps `candidate` as the rotation's pending value (or the value kept by an earlier run of
 * create: the first one wins) and stages it where the backend can. Answers the kept value.
 */
export async function holdPending(context: HolderContext, candidate: Buffer): Promise<{ value: Buffer; held: Held }> {
  const { backend, location } = context.holder;
  const value = await context.pending.keep(context.rotationId, candidate);
  const current = await readCurrent(context);
  const baseVersion = current?.version ?? 0;
  if (hasStagedRotation(backend)) {
    const staged = await backend.stagePending(location, value, context.rotationId);
    return { value, held: { baseVersion, staged } };
  }
  if (!isWritable(backend)) {
    throw new BrokerError("invalid_request", `secret ${context.secretPath} is on mount ${backend.mount}, which cannot store new versions`);
  }
  return { value, held: { baseVersion, staged: undefined } };
}

/** The rotation's pending value, as create kept it. */
export async function pendingValue(context: HolderContext): Promise<Buffer> {
  const value = await context.pending.read(context.rotationId);
  if (value === undefined) {
    throw new BrokerError("conflict", `rotation ${context.rotationId} of ${context.secretPath} has no pending value any more; roll it back`);
  }
  return value;
}

/**
 * Makes the pending value the current version and answers its number. Idempotent: a staged
 * version is promoted again harmlessly; on a writable backend a current version newer than the
 * base that holds the pending value is this rotation's own earlier write.
 *
 * @throws BrokerError `conflict` when someone else wrote a version after create.
 */
export async function publish(context: HolderContext, held: Held, value: Buffer): Promise<number> {
  const { backend, location } = context.holder;
  if (held.staged !== undefined) {
    if (!hasStagedRotation(backend)) throw new BrokerError("conflict", `mount ${backend.mount} can no longer stage versions; roll the rotation back`);
    await backend.promote(location, held.staged.versionId);
    return held.staged.version;
  }
  if (!isWritable(backend)) throw new BrokerError("invalid_request", `secret ${context.secretPath} is on mount ${backend.mount}, which cannot store new versions`);
  const current = await readCurrent(context);
  if (current !== undefined && current.version > held.baseVersion) {
    if (sameBytes(current.bytes, value)) return current.version;
    throw new BrokerError("conflict", `secret ${context.secretPath} got version ${current.version} from elsewhere during the rotation; roll it back and rotate again`);
  }
  return backend.write(location, value, { createdBy: ROTATION_WRITER });
}

/** Drops a staged version (rollback). Nothing to do for a value held only in PendingValues. */
export async function discardHeld(context: HolderContext, held: Held | undefined): Promise<void> {
  const { backend, location } = context.holder;
  if (held?.staged !== undefined && hasStagedRotation(backend)) await backend.discardPending(location, held.staged.versionId);
}

/** Constant-time equality of two values (lengths may differ). */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The test step for a staged value: the backend answers the pending version with exactly the
 * kept value. Nothing to read back for a value held in PendingValues.
 */
export async function verifyStaged(context: HolderContext, held: Held, value: Buffer): Promise<void> {
  const { backend, location } = context.holder;
  if (held.staged === undefined || !hasStagedRotation(backend)) return;
  const pending = await backend.readPending(location);
  if (pending === undefined || pending.versionId !== held.staged.versionId || !sameBytes(pending.bytes, value)) {
    throw new BrokerError("rotation_failed", `mount ${backend.mount} does not answer the pending version of ${context.secretPath} with the new value`, {
      data: { target: `backend ${backend.mount}` },
    });
  }
}

/** Held as step state (JSON: no undefined). */
export function heldState(held: Held): { baseVersion: number; staged?: { version: number; versionId: string } } {
  return held.staged === undefined ? { baseVersion: held.baseVersion } : { baseVersion: held.baseVersion, staged: { ...held.staged } };
}
