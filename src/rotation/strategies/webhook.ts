import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

import { BrokerError } from "../../errors.js";
import type { HookStep } from "../../policy/rotation-options.js";
import { hookContext, hookStrategy } from "../hook.js";
import type { RetiringStrategy, RotationContext } from "../strategy.js";

/**
 * `webhook`: a receiver applies the new value to its system, told by a signed HTTPS POST.
 *
 * One POST per step listed in `steps` (default `[set]`), body (JSON):
 * `{"type": "credbroker.rotation.v1", "rotation_id", "secret", "step", "value"}`, where `value` is
 * the new value for set and test, the current one for rollback, absent for retire. Headers:
 * - `X-Credbroker-Timestamp`: Unix time in seconds when the request was signed;
 * - `X-Credbroker-Signature`: `v1=` and the hex HMAC-SHA256, under the broker secret
 *   `signing_key_secret` (at least 32 bytes), of `<timestamp>.<body>` (the exact body bytes);
 * - `Idempotency-Key`: `<rotation_id>:<step>`: the same step may be sent again after a crash or
 *   a retry, and the receiver must treat a repeat as done.
 * The receiver answers 2xx once the value is in place. A network error, a timeout, 429 or 5xx is
 * retried (`retries` times, backoff doubling from 500 ms); any other answer fails the step at
 * once; redirects are not followed (the body holds the value). finish writes the new version
 * to the backend that holds the secret.
 */

export const TIMESTAMP_HEADER = "x-credbroker-timestamp";
export const SIGNATURE_HEADER = "x-credbroker-signature";
const MIN_KEY_BYTES = 32;

type Context = RotationContext<"webhook">;

export interface WebhookStrategyOptions {
  /** First retry delay in ms, doubled for each further one (default 500). */
  backoffMs?: number;
}

/** The webhook strategy; `backoffMs` is there so that tests of retries need not wait. */
export function createWebhookStrategy({ backoffMs = 500 }: WebhookStrategyOptions = {}): RetiringStrategy<"webhook"> {
  return hookStrategy("webhook", (context, step, value) => post(context, step, value, backoffMs));
}

/** The signature a receiver must compute: hex HMAC-SHA256 of `<timestamp>.<body>`, as sent after `v1=`. */
export function webhookSignature(key: Buffer, timestamp: string, body: string | Buffer): string {
  return createHmac("sha256", key).update(`${timestamp}.`).update(body).digest("hex");
}

async function post(context: Context, step: HookStep, value: Buffer | undefined, backoffMs: number): Promise<void> {
  const { url, timeoutSeconds, retries } = context.options;
  const target = `webhook ${new URL(url).origin}`;
  const key = await context.secrets.read(context.options.signingKeySecret);
  if (key.length < MIN_KEY_BYTES) {
    throw new BrokerError("invalid_request", `webhook: the signing key ${context.options.signingKeySecret} is shorter than ${MIN_KEY_BYTES} bytes`);
  }
  const body = JSON.stringify({ ...hookContext(context, step), ...(value !== undefined && { value: value.toString("utf8") }) });
  let failure: BrokerError | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1), undefined, { signal: context.signal }).catch(() => undefined);
    if (context.signal.aborted) throw new BrokerError("backend_unavailable", `${target}: step ${step} was aborted`, { data: { target } });
    const timestamp = String(Math.floor(context.clock() / 1000));
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        redirect: "manual",
        headers: {
          "content-type": "application/json",
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: `v1=${webhookSignature(key, timestamp, body)}`,
          "idempotency-key": `${context.rotationId}:${step}`,
        },
        body,
        signal: AbortSignal.any([context.signal, AbortSignal.timeout(timeoutSeconds * 1000)]),
      });
      // The answer is not needed; reading it releases the connection.
      await response.arrayBuffer().catch(() => undefined);
    } catch (error) {
      const reason = error instanceof Error ? error.name : "error";
      failure = new BrokerError("backend_unavailable", `${target} did not answer step ${step} (${reason})`, { data: { target }, detail: String(error) });
      continue;
    }
    if (response.status >= 200 && response.status < 300) return;
    const data = { target, status: response.status };
    if (response.status === 429 || response.status >= 500) {
      failure = new BrokerError("backend_unavailable", `${target} answered ${response.status} to step ${step}`, { data });
      continue;
    }
    const what = response.status >= 300 && response.status < 400 ? "a redirect, which is not followed" : String(response.status);
    throw new BrokerError("rotation_failed", `${target} answered ${what} to step ${step}`, { data });
  }
  throw failure ?? new BrokerError("backend_unavailable", `${target} did not answer step ${step}`, { data: { target } });
}
