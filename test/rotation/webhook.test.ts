/**
 * webhook against a real HTTP receiver on 127.0.0.1 that does what docs/rotation.md tells
 * receivers to do: check the timestamp and the HMAC-SHA256 signature (constant-time), treat a
 * repeated Idempotency-Key as done, then store the value.
 */
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createWebhookStrategy, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from "../../src/rotation/strategies/webhook.js";
import { rotationStrategies } from "../../src/rotation/registry.js";
import { testMounts, type TestMounts } from "../backends/helpers.js";
import { pendingValuesForTests, rotationStrategyContract } from "../contracts/rotation-strategy.contract.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

const INITIAL = "initial-value-0123456789";
const TOLERANCE_SECONDS = 300;

interface Receiver {
  url: string;
  value: Buffer;
  requests: Array<{ step: string; verified: boolean; idempotencyKey: string }>;
  /** Answers to give before behaving normally (e.g. [503] for one failure). */
  queue: number[];
  close(): Promise<void>;
}

async function startReceiver(key: Buffer, now: () => number, handle?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<Receiver> {
  const done = new Set<string>();
  const receiver: Receiver = { url: "", value: Buffer.from(INITIAL), requests: [], queue: [], close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    if (handle?.(req, res)) return;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const timestamp = String(req.headers[TIMESTAMP_HEADER] ?? "");
      const given = Buffer.from(String(req.headers[SIGNATURE_HEADER] ?? ""));
      const expected = Buffer.from(`v1=${webhookSignature(key, timestamp, body)}`);
      const fresh = Math.abs(Math.floor(now() / 1000) - Number(timestamp)) <= TOLERANCE_SECONDS;
      const verified = fresh && given.length === expected.length && timingSafeEqual(given, expected);
      const message = JSON.parse(body.toString("utf8")) as { step: string; value?: string };
      const idempotencyKey = String(req.headers["idempotency-key"] ?? "");
      receiver.requests.push({ step: message.step, verified, idempotencyKey });
      const queued = receiver.queue.shift();
      if (queued !== undefined) return void res.writeHead(queued).end();
      if (!verified) return void res.writeHead(401).end();
      if (!done.has(idempotencyKey) && (message.step === "set" || message.step === "rollback")) receiver.value = Buffer.from(message.value ?? "");
      if (message.step === "test" && receiver.value.toString("utf8") !== message.value) return void res.writeHead(422).end();
      done.add(idempotencyKey);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotate`;
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}

async function mountsWithKey(key: Buffer): Promise<TestMounts> {
  const mounts = await testMounts([]);
  await mounts.local.write("rotated/app", Buffer.from(INITIAL), { createdBy: "test" });
  await mounts.local.write("hooks/key", key, { createdBy: "test" });
  return mounts;
}

const frozenNow = Date.parse("2030-01-01T00:00:00Z");
const clock = () => frozenNow;

rotationStrategyContract("webhook with a real receiver", async () => {
  const key = randomBytes(32);
  const receiver = await startReceiver(key, clock);
  const mounts = await mountsWithKey(key);
  const options = optionsFromPolicy("webhook", `{ webhook: { url: "${receiver.url}", signing_key_secret: hooks/key, steps: [set, test, rollback] } }`);
  const parts = { secretPath: "rotated/app", mounts: mounts.table, options, pending: pendingValuesForTests(), clock };
  return {
    strategy: rotationStrategies.webhook,
    context: (rotationId) => contextFor(parts, rotationId),
    accepts: (value) => Promise.resolve(receiver.value.equals(value)),
    async close() {
      await mounts.close();
      await receiver.close();
    },
  };
});

describe("webhook: edge cases", () => {
  const key = randomBytes(32);
  let mounts: TestMounts;
  beforeAll(async () => {
    mounts = await mountsWithKey(key);
  });
  afterAll(() => mounts.close());

  const strategy = createWebhookStrategy({ backoffMs: 1 });
  const setStep = async (url: string, extra = "", signingKey = "hooks/key") => {
    const options = optionsFromPolicy("webhook", `{ webhook: { url: "${url}", signing_key_secret: ${signingKey}${extra} } }`);
    const parts = { secretPath: "rotated/app", mounts: mounts.table, options, pending: pendingValuesForTests(), clock };
    const rotationId = randomUUID();
    const created = await strategy.create(contextFor(parts, rotationId));
    const value = (await parts.pending.read(rotationId))!.toString();
    return strategy.set(contextFor(parts, rotationId), created).then(
      () => ({ value, error: undefined }),
      (error: unknown) => ({ value, error: error as Error & { code: string; data?: Record<string, unknown> } }),
    );
  };

  it("a receiver holding another key refuses the signature: rotation_failed, not retried", async () => {
    const receiver = await startReceiver(randomBytes(32), clock);
    try {
      const { value, error } = await setStep(receiver.url);
      expect(error).toMatchObject({ code: "rotation_failed", data: { status: 401 } });
      expect(receiver.requests).toEqual([{ step: "set", verified: false, idempotencyKey: expect.stringMatching(/:set$/) }]);
      expect(error!.message).not.toContain(value);
    } finally {
      await receiver.close();
    }
  });

  it("a signature made at another time is refused by the receiver's tolerance", async () => {
    const receiver = await startReceiver(key, () => frozenNow + (TOLERANCE_SECONDS + 1) * 1000);
    try {
      expect((await setStep(receiver.url)).error).toMatchObject({ code: "rotation_failed", data: { status: 401 } });
    } finally {
      await receiver.close();
    }
  });

  it("a 503 is retried with the same idempotency key, and the step succeeds once the receiver answers 2xx", async () => {
    const receiver = await startReceiver(key, clock);
    try {
      receiver.queue.push(503, 503);
      const { value, error } = await setStep(receiver.url, ", retries: 2");
      expect(error).toBeUndefined();
      expect(receiver.requests).toHaveLength(3);
      expect(new Set(receiver.requests.map((request) => request.idempotencyKey)).size).toBe(1);
      expect(receiver.value.toString()).toBe(value);
    } finally {
      await receiver.close();
    }
  });

  it("retries are bounded: a receiver that keeps failing fails the step with backend_unavailable after retries + 1 attempts", async () => {
    const receiver = await startReceiver(key, clock);
    try {
      receiver.queue.push(500, 500, 500, 500);
      const { error } = await setStep(receiver.url, ", retries: 1");
      expect(error).toMatchObject({ code: "backend_unavailable", data: { status: 500 } });
      expect(receiver.requests).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });

  it("a receiver that is down fails with backend_unavailable naming it", async () => {
    const receiver = await startReceiver(key, clock);
    await receiver.close();
    const { error } = await setStep(receiver.url, ", retries: 0");
    expect(error).toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("webhook http://127.0.0.1:") });
  });

  it("a receiver that does not answer in time fails with backend_unavailable", async () => {
    const receiver = await startReceiver(key, clock, () => true); // never answers
    try {
      const { error } = await setStep(receiver.url, ", retries: 0, timeout: 1s");
      expect(error).toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("TimeoutError") });
    } finally {
      await receiver.close();
    }
  });

  it("a redirect is not followed (the body holds the value)", async () => {
    const target = await startReceiver(key, clock);
    const redirector = await startReceiver(key, clock, (_req, res) => {
      res.writeHead(307, { location: target.url }).end();
      return true;
    });
    try {
      const { error } = await setStep(redirector.url);
      expect(error).toMatchObject({ code: "rotation_failed", message: expect.stringContaining("a redirect, which is not followed") });
      expect(target.requests).toHaveLength(0);
    } finally {
      await redirector.close();
      await target.close();
    }
  });

  it("an aborted step sends nothing and fails with backend_unavailable", async () => {
    const receiver = await startReceiver(key, clock);
    try {
      const controller = new AbortController();
      const options = optionsFromPolicy("webhook", `{ webhook: { url: "${receiver.url}", signing_key_secret: hooks/key } }`);
      const parts = { secretPath: "rotated/app", mounts: mounts.table, options, pending: pendingValuesForTests(), clock, signal: controller.signal };
      const rotationId = randomUUID();
      const created = await strategy.create(contextFor(parts, rotationId));
      controller.abort();
      await expect(strategy.set(contextFor(parts, rotationId), created)).rejects.toMatchObject({ code: "backend_unavailable", message: expect.stringContaining("aborted") });
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });

  it("a signing key shorter than 32 bytes is refused before anything is sent", async () => {
    await mounts.local.write("hooks/short", Buffer.from("short"), { createdBy: "test" });
    const receiver = await startReceiver(key, clock);
    try {
      const { error } = await setStep(receiver.url, "", "hooks/short");
      expect(error).toMatchObject({ code: "invalid_request" });
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });
});
