/** `npm run bench -- --paired N`: each run against the bare runs around it, and reads against the calibration. */
import { describe, expect, it } from "vitest";
import { applyPairedRatios, type PairedRun } from "../../bench/paired.js";

const run = (id: string, requestsPerSecond: number, p99 = 5): PairedRun => ({ id, load: { requestsPerSecond, latencyMs: { p99 } } });

describe("bench --paired ratios", () => {
  it("divides reads and calibration runs by the mean of the nearest bare runs around them, and reads by the calibration before them", () => {
    const runs = [
      run("bare", 40_000),
      run("minimal", 14_000),
      run("secret-get", 12_000, 9),
      run("bare", 60_000),
      run("minimal", 15_000),
      run("secret-get", 12_500, 11),
      run("bare-end", 50_000),
    ];
    const summary = applyPairedRatios(runs);
    expect(summary.minimalRatios).toEqual([0.28, 0.273]);
    expect(summary.ratios).toEqual([0.24, 0.227]);
    expect(summary.brokerToMinimal).toEqual([0.857, 0.833]);
    // The lower of the two middle rounds, and its own p99 (not a mix of rounds).
    expect(summary.median).toBe(0.227);
    expect(summary.medianP99Ms).toBe(9);
    expect(runs.map((r) => r.ratioToBare)).toEqual([undefined, 0.28, 0.24, undefined, 0.273, 0.227, undefined]);
  });

  it("takes the median round of three, and uses a single bare neighbour at the edge", () => {
    const summary = applyPairedRatios([run("secret-get", 10_000), run("bare", 40_000), run("secret-get", 12_000), run("bare", 40_000), run("secret-get", 8_000), run("bare-end", 40_000)]);
    expect(summary.ratios).toEqual([0.25, 0.3, 0.2]);
    expect(summary.median).toBe(0.25);
    expect(summary.brokerToMinimal).toEqual([]);
  });
});
