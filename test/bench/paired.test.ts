/** `npm run bench -- --paired N`: each run against the bare runs around it, and reads against the calibration. */
import { describe, expect, it } from "vitest";
import { applyPairedRatios, machineVerdict, type PairedRun } from "../../bench/paired.js";

const run = (id: string, requestsPerSecond: number, p99 = 5, cpuMicrosPerRequest = 20, cpuPercent = 96): PairedRun => ({
  id,
  load: { requestsPerSecond, latencyMs: { p99 } },
  server: { cpuMicrosPerRequest, cpuPercent },
});

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

  it("leaves a bare run out of the divisors when its CPU per request shows another tenant on the machine", () => {
    // A measured run: the third bare app at 35k req/s and 32 µs per request against ~18.
    const runs = [
      run("bare", 53_000, 2, 18),
      run("minimal", 19_000),
      run("secret-get", 13_600),
      run("bare", 52_700, 2, 18),
      run("minimal", 18_900),
      run("secret-get", 15_700),
      run("bare", 35_300, 8, 32),
      run("minimal", 18_800),
      run("secret-get", 15_400),
      run("bare-end", 51_800, 2, 19),
    ];
    const summary = applyPairedRatios(runs);
    expect(summary.disturbedBare).toEqual([6]);
    // Round 2 is divided by its undisturbed neighbours (52.7k before, 51.8k at the end), not by 35.3k.
    expect(summary.ratios).toEqual([0.257, 0.3, 0.295]);
    expect(summary.median).toBe(0.295);
  });

  it("leaves a bare run out when it got less of a core than the bare app takes, and says which", () => {
    // A measured run: the last bare app at 77.3% of a core and 17.9k req/s; its CPU per
    // request (43 µs) was within 1.25x of the median, so only its share shows the other tenant.
    const runs = [
      run("bare", 21_945, 6, 44, 95.5),
      run("minimal", 11_024),
      run("secret-get", 8_451),
      run("bare", 30_230, 4, 32, 96.4),
      run("minimal", 9_362),
      run("secret-get", 7_057),
      run("bare", 27_014, 5, 36, 97.1),
      run("minimal", 8_503),
      run("secret-get", 6_846),
      run("bare-end", 17_908, 19, 43, 77.3),
    ];
    const summary = applyPairedRatios(runs);
    expect(summary.disturbedBare).toEqual([9]);
    // The last round is divided by the bare run before it alone: 0.253, not 0.305.
    expect(summary.ratios).toEqual([0.324, 0.247, 0.253]);
    expect(summary.median).toBe(0.253);
  });

  it("keeps a bare run whose share is within the usual spread (94.9-98.5% of a core seen undisturbed)", () => {
    const runs = [run("bare", 43_000, 2, 22, 94.9), run("secret-get", 12_000), run("bare", 46_800, 2, 21, 97.3), run("secret-get", 12_000), run("bare-end", 45_600, 2, 21, 98.5)];
    expect(applyPairedRatios(runs).disturbedBare).toEqual([]);
  });

  it("keeps every bare run when fewer than three ran or when all look alike", () => {
    expect(applyPairedRatios([run("bare", 40_000, 2, 18), run("secret-get", 12_000), run("bare-end", 20_000, 2, 40, 60)]).disturbedBare).toEqual([]);
    expect(applyPairedRatios([run("bare", 40_000, 2, 30), run("secret-get", 12_000), run("bare", 40_000, 2, 31), run("secret-get", 12_000), run("bare-end", 40_000, 2, 29)]).disturbedBare).toEqual([]);
  });
});

describe("bench --paired: what the calibration says of the machine", () => {
  const targets = { ratioToBare: 0.3, p99Ms: 10 };
  // A run on a slow spell of the machine: calibration 0.299 / 0.349 / 0.305 of bare at p99 12.27 / 9.61 / 12.28 ms.
  const slowMachine = () => [
    run("bare", 31_476, 5, 30, 93.3),
    run("minimal", 9_819, 12.27),
    run("secret-get", 10_117, 12.64),
    run("bare", 34_276, 4, 28, 95.9),
    run("minimal", 11_977, 9.61),
    run("secret-get", 9_525, 15.04),
    run("bare", 19_500, 6, 50, 97.7),
    run("minimal", 10_457, 12.28),
    run("secret-get", 7_408, 19.47),
    run("bare-end", 19_442, 6, 49, 95.4),
  ];

  it("takes the calibration's median round and median p99, like the broker's", () => {
    const summary = applyPairedRatios(slowMachine());
    expect(summary.calibration).toEqual({ median: 0.305, medianP99Ms: 12.27 });
  });

  it("says when even the calibration misses a target, naming which", () => {
    const line = machineVerdict(applyPairedRatios(slowMachine()), targets);
    expect(line).toContain("0.305 of bare");
    expect(line).toContain("12.27 ms");
    expect(line).toContain("misses the p99 (< 10 ms) target");
    expect(line).not.toContain("throughput");
  });

  it("names both targets when the calibration misses both, and neither when it meets both", () => {
    const slow = applyPairedRatios([run("bare", 40_000), run("minimal", 10_000, 12), run("secret-get", 8_000, 14), run("bare-end", 40_000)]);
    expect(machineVerdict(slow, targets)).toContain("misses the throughput (≥ 0.3 of bare) and the p99 (< 10 ms) targets");
    const fast = applyPairedRatios([run("bare", 40_000), run("minimal", 14_000, 6), run("secret-get", 11_000, 9), run("bare-end", 40_000)]);
    expect(machineVerdict(fast, targets)).toContain("both targets are within reach");
  });

  it("has nothing to say without calibration rounds", () => {
    const summary = applyPairedRatios([run("secret-get", 10_000), run("bare", 40_000)]);
    expect(summary.calibration).toBeUndefined();
    expect(machineVerdict(summary, targets)).toBeUndefined();
  });
});
