import * as z from "zod";

import { BrokerError } from "../../errors.js";
import { generateValue } from "../generate-value.js";
import { heldState, holdPending, pendingValue, publish, readCurrent } from "../holder.js";
import { heldSchema, readState } from "../state.js";
import type { RotationContext, RotationStrategy, StepState } from "../strategy.js";

/**
 * `vault-kv`: a new KV v2 version of a secret on a Vault mount, in which the rule's `keys` get new
 * random values and every other key of the map is copied unchanged.
 * - create reads the current map (the base version), makes the new one, keeps it as pending;
 * - set has nothing to change outside Vault; test checks that nobody wrote a version since the
 *   base (the new map would silently drop their change);
 * - finish writes the new version (a retried finish finds its own version and answers it);
 * - rollback: nothing was written before finish, the pending map is dropped with the rotation.
 * Grace: Vault keeps the previous version (readable by number) until its max_versions; the broker
 * stops serving it when the grace ends. No retire step.
 */

const stateSchema = z.object({ held: heldSchema });

type Context = RotationContext<"vault-kv">;

export const vaultKvStrategy: RotationStrategy<"vault-kv"> = {
  kind: "vault-kv",

  async create(context) {
    checkVault(context);
    const current = await readCurrent(context);
    const map = current === undefined ? {} : kvMap(context, current.bytes);
    for (const [key, spec] of Object.entries(context.options.keys)) map[key] = generateValue(spec).toString("ascii");
    const { held } = await holdPending(context, Buffer.from(JSON.stringify(map), "utf8"));
    return { held: heldState(held) };
  },

  set(_context, state) {
    return Promise.resolve(state);
  },

  async test(context, state) {
    const { held } = parse(state, "test");
    const current = await readCurrent(context);
    if ((current?.version ?? 0) !== held.baseVersion) {
      throw new BrokerError("conflict", `secret ${context.secretPath} got version ${current?.version ?? 0} from elsewhere during the rotation; roll it back and rotate again`);
    }
    return state;
  },

  async finish(context, state) {
    const { held } = parse(state, "finish");
    const version = await publish(context, { baseVersion: held.baseVersion, staged: undefined }, await pendingValue(context));
    return { version, state: { ...state, version } };
  },

  rollback() {
    return Promise.resolve();
  },
};

function parse(state: StepState, step: string) {
  return readState(stateSchema, state, "vault-kv", step);
}

function checkVault(context: Context): void {
  const { backend } = context.holder;
  if (backend.kind !== "vault") {
    throw new BrokerError("invalid_request", `vault-kv rotates secrets on Vault mounts; ${context.secretPath} is on ${backend.kind} mount ${backend.mount}`);
  }
}

function kvMap(context: Context, bytes: Buffer): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(bytes.toString("utf8"));
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return { ...(parsed as Record<string, unknown>) };
  } catch {
    // fall through to the error below
  }
  throw new BrokerError("invalid_request", `secret ${context.secretPath} on mount ${context.holder.backend.mount} is not a KV map`);
}
