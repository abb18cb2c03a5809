import * as z from "zod";

import { hasManagedRotation, hasStagedRotation, isWritable, type BackendVersionInfo, type SecretBackend } from "../../backends/backend.js";
import { BrokerError } from "../../errors.js";
import { generateValue } from "../generate-value.js";
import { discardHeld, heldState, holdPending, pendingValue, publish, readCurrent, verifyStaged } from "../holder.js";
import { heldSchema, readState } from "../state.js";
import type { RotationContext, RotationStrategy, StepState } from "../strategy.js";

/**
 * `aws`: rotation of a Secrets Manager secret through its staging labels.
 *
 * mode `staged` (default): the broker makes the value.
 * - create: PutSecretValue with AWSPENDING (ClientRequestToken = rotation id, so a retry is the
 *   same version); with `key`, the current JSON SecretString with that key replaced;
 * - set: nothing outside Secrets Manager; test: GetSecretValue AWSPENDING is the new value;
 * - finish: UpdateSecretVersionStage moves AWSCURRENT to it (the old one becomes AWSPREVIOUS);
 * - rollback: AWSPENDING is removed; AWSCURRENT never moved.
 *
 * mode `lambda`: RotateSecret, and the secret's rotation Lambda runs its own four steps.
 * - create starts it (ClientRequestToken = rotation id); test checks that the version it made
 *   is AWSCURRENT (the Lambda finished); finish answers that version; rollback removes a
 *   leftover AWSPENDING.
 *
 * Grace: AWSPREVIOUS stays on the previous version (Secrets Manager moves it on the next
 * rotation); the broker stops serving it when the grace ends. No retire step.
 */

const stagedState = z.object({ mode: z.literal("staged"), held: heldSchema });
const lambdaState = z.object({ mode: z.literal("lambda"), versionId: z.string().min(1) });
const stateSchema = z.discriminatedUnion("mode", [stagedState, lambdaState]);

type Context = RotationContext<"aws">;

export const awsStrategy: RotationStrategy<"aws"> = {
  kind: "aws",

  async create(context): Promise<StepState> {
    const { backend, location } = context.holder;
    if (context.options.mode === "lambda") {
      if (!hasManagedRotation(backend)) throw notAws(context, backend);
      const { versionId } = await backend.rotate(location, context.rotationId);
      return { mode: "lambda", versionId };
    }
    if (!hasStagedRotation(backend)) throw notAws(context, backend);
    const { held } = await holdPending(context, await newValue(context));
    return { mode: "staged", held: heldState(held) };
  },

  set(_context, state) {
    return Promise.resolve(state);
  },

  async test(context, state) {
    const parsed = parse(state, "test");
    if (parsed.mode === "staged") {
      await verifyStaged(context, { baseVersion: parsed.held.baseVersion, staged: parsed.held.staged }, await pendingValue(context));
      return state;
    }
    await lambdaVersion(context, parsed.versionId);
    return state;
  },

  async finish(context, state) {
    const parsed = parse(state, "finish");
    if (parsed.mode === "lambda") {
      const version = await lambdaVersion(context, parsed.versionId);
      return { version, state: { ...state, version } };
    }
    const version = await publish(context, { baseVersion: parsed.held.baseVersion, staged: parsed.held.staged }, await pendingValue(context));
    return { version, state: { ...state, version } };
  },

  async rollback(context, state) {
    if (state["mode"] === undefined) return;
    const parsed = parse(state, "rollback");
    if (parsed.mode === "staged") {
      await discardHeld(context, { baseVersion: parsed.held.baseVersion, staged: parsed.held.staged });
      return;
    }
    const { backend, location } = context.holder;
    const version = (await versionsOf(context)).find((entry) => entry.versionId === parsed.versionId);
    if (version !== undefined && !(version.stages ?? []).includes("AWSCURRENT") && hasStagedRotation(backend)) {
      await backend.discardPending(location, parsed.versionId);
    }
  },
};

function parse(state: StepState, step: string) {
  return readState(stateSchema, state, "aws", step);
}

function notAws(context: Context, backend: SecretBackend): BrokerError {
  return new BrokerError("invalid_request", `aws rotates secrets on AWS mounts; ${context.secretPath} is on ${backend.kind} mount ${backend.mount}`);
}

/** The new value: a generated SecretString, or the current JSON one with `key` replaced. */
async function newValue(context: Context): Promise<Buffer> {
  const generated = generateValue(context.options.generate).toString("ascii");
  const { key } = context.options;
  if (key === undefined) return Buffer.from(generated, "ascii");
  const current = await readCurrent(context);
  let map: Record<string, unknown> = {};
  if (current !== undefined) {
    try {
      const parsed: unknown = JSON.parse(current.bytes.toString("utf8"));
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new TypeError("not an object");
      map = { ...(parsed as Record<string, unknown>) };
    } catch {
      throw new BrokerError("invalid_request", `aws: the SecretString of ${context.secretPath} is not a JSON object, so key ${key} cannot be replaced`);
    }
  }
  map[key] = generated;
  return Buffer.from(JSON.stringify(map), "utf8");
}

async function versionsOf(context: Context): Promise<BackendVersionInfo[]> {
  const { backend, location } = context.holder;
  return isWritable(backend) ? backend.versions(location) : [];
}

/** The broker version of the Lambda's version, once it is AWSCURRENT. */
async function lambdaVersion(context: Context, versionId: string): Promise<number> {
  const version = (await versionsOf(context)).find((entry) => entry.versionId === versionId);
  if (version === undefined || !(version.stages ?? []).includes("AWSCURRENT")) {
    throw new BrokerError("rotation_failed", `aws: the rotation Lambda of ${context.secretPath} has not made version ${versionId} current`, {
      data: { target: `aws ${context.holder.backend.mount}` },
    });
  }
  return version.version;
}
