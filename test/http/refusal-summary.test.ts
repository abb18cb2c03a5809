/**
 * The refusal summaries over a real audit writer and SQLite store, on a frozen clock: what is
 * recorded at once, what is counted, when a summary is written, and how a flood from more
 * sources than the summaries track stays bounded.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { auditEntry } from "../../src/audit/entry.js";
import { AuditWriter } from "../../src/audit/writer.js";
import { RefusalSummaries } from "../../src/http/refusal-summary.js";
import { createMetrics } from "../../src/metrics.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const T0 = Date.parse("2026-12-04T12:00:00Z");

describe("refusal summaries", () => {
  let temp: TempStore;
  let writer: AuditWriter;
  let now: number;
  const silent = { error: () => undefined };

  beforeEach(() => {
    temp = openTempStore("refusal-summary");
    writer = new AuditWriter(temp.store, createMetrics());
    now = T0;
  });
  afterEach(async () => {
    await writer.drain();
    await temp.close();
  });

  const refusal = (source: string | null, reason = "not_found", requestId = `req-${Math.random()}`) =>
    auditEntry({ id: "anonymous", kind: "anonymous" }, { requestId, sourceIp: source }, { action: "http.reject", resource: "GET /v1/x", outcome: "denied", reason }, now);
  const records = async () => (await temp.store.queryAudit({ limit: 10_000 })).map(({ sourceIp, reason, requestId }) => ({ sourceIp, reason, requestId }));

  it("records the first of a kind at once, counts the rest, and writes the count once the window has closed", async () => {
    const summaries = new RefusalSummaries({ audit: writer, logger: silent, clock: () => now, windowSeconds: 60, recordedPerWindow: 2 });
    for (let i = 0; i < 5; i += 1) await summaries.record(refusal("10.0.0.1", "not_found", `r${i}`));
    await summaries.record(refusal("10.0.0.1", "invalid_json", "other"));
    await summaries.record(refusal("10.0.0.2", "not_found", "elsewhere"));
    expect(await records()).toEqual([
      { sourceIp: "10.0.0.1", reason: "not_found", requestId: "r0" },
      { sourceIp: "10.0.0.1", reason: "not_found", requestId: "r1" },
      { sourceIp: "10.0.0.1", reason: "invalid_json", requestId: "other" },
      { sourceIp: "10.0.0.2", reason: "not_found", requestId: "elsewhere" },
    ]);
    await summaries.flush();
    expect(await records()).toHaveLength(4); // the window is still open
    now += 60_000;
    await summaries.flush();
    expect((await records()).slice(4)).toEqual([{ sourceIp: "10.0.0.1", reason: "not_found; count=3", requestId: "r4" }]);
    await summaries.close();
    expect(await records()).toHaveLength(5);
  });

  it("past maxKinds, new kinds from any source share one, summarised without a source address", async () => {
    const summaries = new RefusalSummaries({ audit: writer, logger: silent, clock: () => now, windowSeconds: 60, recordedPerWindow: 1, maxKinds: 3 });
    for (let i = 0; i < 50; i += 1) await summaries.record(refusal(`10.0.1.${i}`));
    await summaries.close();
    const written = await records();
    expect(written.map(({ sourceIp, reason }) => ({ sourceIp, reason }))).toEqual([
      { sourceIp: "10.0.1.0", reason: "not_found" },
      { sourceIp: "10.0.1.1", reason: "not_found" },
      { sourceIp: "10.0.1.2", reason: "not_found" },
      { sourceIp: null, reason: "not_found" },
      { sourceIp: null, reason: "not_found; count=46" },
    ]);
  });

  it("a full table lets go of closed windows before it overflows", async () => {
    const summaries = new RefusalSummaries({ audit: writer, logger: silent, clock: () => now, windowSeconds: 60, recordedPerWindow: 1, maxKinds: 2 });
    await summaries.record(refusal("10.0.2.1"));
    await summaries.record(refusal("10.0.2.1"));
    await summaries.record(refusal("10.0.2.2"));
    now += 61_000;
    await summaries.record(refusal("10.0.2.3"));
    await summaries.close();
    expect((await records()).map(({ sourceIp, reason }) => `${sourceIp} ${reason}`)).toEqual(["10.0.2.1 not_found", "10.0.2.2 not_found", "10.0.2.1 not_found; count=1", "10.0.2.3 not_found"]);
  });

  it("refuses a window shorter than a second or no refusal recorded at all", () => {
    expect(() => new RefusalSummaries({ audit: writer, logger: silent, clock: () => now, windowSeconds: 0, recordedPerWindow: 1 })).toThrow(TypeError);
    expect(() => new RefusalSummaries({ audit: writer, logger: silent, clock: () => now, windowSeconds: 60, recordedPerWindow: 0 })).toThrow(TypeError);
  });
});
