/**
 * The audit integrity routes on a real broker: who may verify and archive, every bad input a
 * coded 4xx, an archive request for records that are not the exported segment refused, the
 * interval checkpoint, and a webhook sink receiving what the file sink keeps.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/wait.js";

describe("audit integrity routes", () => {
  let t: TestBroker;
  let auditor: string;

  beforeAll(async () => {
    t = await startTestBroker({ config: { audit: { checkpoint_interval: 1 } } });
    const created = await t.admin<{ token: string }>("POST", "/v1/admin/operators", { name: "ann", role: "auditor" });
    expect(created.status).toBe(201);
    auditor = created.body.token;
  });
  afterAll(async () => {
    await t?.close();
  });

  const checkpointLines = () => {
    try {
      return readFileSync(join(t.dir, "audit-checkpoints.jsonl"), "utf8").trim().split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };

  it("takes a checkpoint within checkpoint_interval after records are written", async () => {
    await t.registerServer("interval-mcp");
    await waitFor("an interval checkpoint", () => checkpointLines().length > 0);
    const events = await t.admin<{ events: Array<{ action: string; reason: string }> }>("GET", "/v1/audit/events?action=audit.checkpoint");
    expect(events.body.events[0]).toMatchObject({ action: "audit.checkpoint", reason: "interval" });
  });

  it("lets an auditor verify and read the checkpoint key, but archiving needs the admin role", async () => {
    expect((await t.admin<{ ok: boolean }>("GET", "/v1/audit/verify", undefined, auditor)).body.ok).toBe(true);
    const key = await t.admin<{ key_id: string; public_key_pem: string }>("GET", "/v1/audit/checkpoint-key", undefined, auditor);
    expect(key.body.public_key_pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const exported = await t.admin<{ error: { code: string } }>("GET", `/v1/audit/archive?before=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, undefined, auditor);
    expect(exported.status).toBe(403);
    expect(exported.body.error.code).toBe("forbidden");
    const removed = await t.admin<{ error: { code: string } }>("POST", "/v1/audit/archive", { through_seq: 1, records_sha256: "0".repeat(64) }, auditor);
    expect(removed.status).toBe(403);
  });

  it.each([
    ["POST /v1/audit/verify with a malformed checkpoint", "POST", "/v1/audit/verify", { checkpoints: [{ seq: 1, hash: "xyz", time: "t", key_id: "k", signature: "s" }] }, 400, "invalid_request"],
    ["POST /v1/audit/verify with an unknown field", "POST", "/v1/audit/verify", { checkpoints: [], extra: 1 }, 400, "invalid_request"],
    ["GET /v1/audit/archive without before", "GET", "/v1/audit/archive", undefined, 400, "invalid_request"],
    ["GET /v1/audit/archive with nothing that old", "GET", "/v1/audit/archive?before=2000-01-01T00:00:00Z", undefined, 404, "not_found"],
    ["POST /v1/audit/archive for records that are not the segment", "POST", "/v1/audit/archive", { through_seq: 1, records_sha256: "0".repeat(64) }, 409, "conflict"],
    ["POST /v1/audit/archive with a bad digest", "POST", "/v1/audit/archive", { through_seq: 1, records_sha256: "nope" }, 400, "invalid_request"],
  ])("%s: %i", async (_title, method, path, body, status, code) => {
    const answer = await t.admin<{ error: { code: string } }>(method as string, path as string, body);
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
  });

  it("verifies against checkpoints given in the request, reporting one not signed by the broker", async () => {
    const [line] = checkpointLines();
    const checkpoint = JSON.parse(line!) as Record<string, unknown>;
    const intact = await t.admin<{ ok: boolean; checkpoints: { checked: number } }>("POST", "/v1/audit/verify", { checkpoints: [checkpoint] });
    expect(intact.body).toMatchObject({ ok: true, checkpoints: { checked: 1 } });
    const forged = await t.admin<{ ok: boolean; problems: Array<{ kind: string }> }>("POST", "/v1/audit/verify", { checkpoints: [{ ...checkpoint, hash: "f".repeat(64) }] });
    expect(forged.body.ok).toBe(false);
    expect(forged.body.problems.map((problem) => problem.kind)).toEqual(["checkpoint_signature"]);
  });
});

describe("a webhook checkpoint sink on a real broker", () => {
  it("receives the same signed checkpoint as the file sink at a clean shutdown", async () => {
    const received: string[] = [];
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        received.push(body);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const sinkDir = mkdtempSync(join(tmpdir(), "credbroker-webhook-sink-"));
    const file = join(sinkDir, "checkpoints.jsonl");
    try {
      const t = await startTestBroker({ config: { audit: { checkpoint_sinks: [{ type: "webhook", url: `http://127.0.0.1:${port}/hook` }, { type: "file", checkpoint_file: file }] } } });
      await t.registerServer("hooked-mcp");
      await t.close();
      const [line] = readFileSync(file, "utf8").trim().split("\n");
      await waitFor("the webhook delivery", () => received.length === 1);
      expect(JSON.parse(received[0]!)).toEqual(JSON.parse(line!));
    } finally {
      server.close();
      rmSync(sinkDir, { recursive: true, force: true });
    }
  });
});
