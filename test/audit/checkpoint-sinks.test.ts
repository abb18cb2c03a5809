/**
 * Checkpoint sinks: the file sink appends whole lines (0600) and reads them back, reporting a line
 * that is not a checkpoint; the webhook sink delivers in the background with bounded retries, and
 * a receiver that is down never blocks the writer.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkpointSignatureValid, CheckpointSigner, type SignedCheckpoint } from "../../src/audit/checkpoint.js";
import { FileCheckpointSink } from "../../src/audit/sinks/file.js";
import { WebhookCheckpointSink } from "../../src/audit/sinks/webhook.js";
import { waitFor } from "../helpers/wait.js";

const signer = new CheckpointSigner(randomBytes(32));
const checkpoint = (seq: number) => signer.sign({ seq, hash: "ab".repeat(32) }, Date.UTC(2026, 0, 1));

describe("checkpoint sinks", () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("file: appends one line per checkpoint, private to the broker, and reads them back in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-sink-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "nested", "checkpoints.jsonl");
    const sink = new FileCheckpointSink(file);
    expect(await sink.readAll()).toEqual({ checkpoints: [], problems: [] });
    await sink.write(checkpoint(1));
    await sink.write(checkpoint(2));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    appendFileSync(file, "not json\n");
    const read = await sink.readAll();
    expect(read.checkpoints.map((c) => c.seq)).toEqual([1, 2]);
    expect(read.checkpoints.every((c) => checkpointSignatureValid(c, new Map([[signer.keyId, signer.publicKey]])))).toBe(true);
    expect(read.problems).toEqual([`${file}: line 3: not JSON`]);
  });

  /** A receiver answering `statuses` in turn (then 200); `hang` never answers at all. */
  async function receiver(statuses: number[] | "hang"): Promise<{ url: string; received: SignedCheckpoint[]; headers: string[] }> {
    const received: SignedCheckpoint[] = [];
    const headers: string[] = [];
    const server: Server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        if (statuses === "hang") return;
        const status = statuses.shift() ?? 200;
        headers.push(String(request.headers.authorization));
        if (status === 200) received.push(JSON.parse(body) as SignedCheckpoint);
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkpoints?token=x`, received, headers };
  }

  it("webhook: retries a failing receiver and delivers each checkpoint once, with the configured headers", async () => {
    const target = await receiver([500, 503]);
    const dropped: string[] = [];
    const sink = new WebhookCheckpointSink({ url: target.url, timeoutMs: 2000, maxAttempts: 3, retryDelayMs: 1, headers: { authorization: "Bearer hook-token" }, onDropped: (_c, reason) => dropped.push(reason) });
    expect(sink.description).not.toMatch(/token/);
    await sink.write(checkpoint(7));
    await sink.write(checkpoint(8));
    await waitFor("both delivered", () => target.received.length === 2);
    expect(target.received.map((c) => c.seq)).toEqual([7, 8]);
    expect(new Set(target.headers)).toEqual(new Set(["Bearer hook-token"]));
    expect(dropped).toEqual([]);
    await sink.close();
  });

  it("webhook: a receiver that keeps failing costs bounded attempts", async () => {
    const target = await receiver([500, 500, 500, 500]);
    const dropped: string[] = [];
    const sink = new WebhookCheckpointSink({ url: target.url, timeoutMs: 2000, maxAttempts: 2, retryDelayMs: 1, onDropped: (_c, reason) => dropped.push(reason) });
    await sink.write(checkpoint(9));
    await waitFor("given up", () => dropped.length === 1);
    expect(dropped).toEqual(["HTTP 500 after 2 attempt(s)"]);
    expect(target.received).toEqual([]);
    await sink.close();
    await expect(sink.write(checkpoint(10))).rejects.toThrow(/closed/);
  });

  it("webhook: write never waits for a receiver that does not answer", async () => {
    const target = await receiver("hang");
    const dropped: string[] = [];
    const sink = new WebhookCheckpointSink({ url: target.url, timeoutMs: 200, maxAttempts: 2, retryDelayMs: 1, onDropped: (_c, reason) => dropped.push(reason) });
    await sink.write(checkpoint(11));
    // Had write waited for delivery, the checkpoint would already have been given up on.
    expect(dropped).toEqual([]);
    await waitFor("given up", () => dropped.length === 1);
    expect(dropped).toEqual(["TimeoutError after 2 attempt(s)"]);
    await sink.close();
  });
});
