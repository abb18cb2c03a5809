/** `npm run bench -- --compare REF`: run order, the ratios it reports, and the ref's checkout. */
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkoutRef, compareRounds, roundOrder } from "../../bench/compare.js";
import { REPO_ROOT } from "../../bench/target-process.js";

describe("bench --compare", () => {
  it("alternates which side runs first, so drift does not always favour one", () => {
    expect([0, 1, 2, 3].map(roundOrder)).toEqual([
      ["ref", "tree"],
      ["tree", "ref"],
      ["ref", "tree"],
      ["tree", "ref"],
    ]);
  });

  it.each([
    [
      "an odd number of rounds: the middle one",
      [
        [10_000, 100, 11_000, 90],
        [10_000, 100, 9_000, 110],
        [10_000, 100, 10_500, 95],
      ],
      { throughputRatios: [1.1, 0.9, 1.05], medianThroughputRatio: 1.05, cpuRatios: [0.9, 1.1, 0.95], medianCpuRatio: 0.95 },
    ],
    [
      "an even number: the mean of the middle two",
      [
        [10_000, 100, 11_000, 90],
        [10_000, 100, 10_000, 100],
      ],
      { throughputRatios: [1.1, 1], medianThroughputRatio: 1.05, cpuRatios: [0.9, 1], medianCpuRatio: 0.95 },
    ],
  ])("reports working tree ÷ ref per round and the median, with %s", (_title, rounds, expected) => {
    const summary = compareRounds(
      rounds.map(([refRps, refCpu, treeRps, treeCpu]) => ({
        ref: { requestsPerSecond: refRps!, cpuMicrosPerRequest: refCpu! },
        tree: { requestsPerSecond: treeRps!, cpuMicrosPerRequest: treeCpu! },
      })),
    );
    expect(summary).toEqual(expected);
  });

  it("reports each side's median commit-in-flight share when every run has one, and none otherwise", () => {
    const round = (ref: number, tree: number | undefined) => ({
      ref: { requestsPerSecond: 10_000, cpuMicrosPerRequest: 100, commitShare: ref },
      tree: { requestsPerSecond: 10_000, cpuMicrosPerRequest: 100, ...(tree !== undefined && { commitShare: tree }) },
    });
    expect(compareRounds([round(0.66, 0.71), round(0.64, 0.75), round(0.65, 0.6)]).medianCommitShare).toEqual({ ref: 0.65, tree: 0.71 });
    expect(compareRounds([round(0.66, 0.71), round(0.64, undefined)]).medianCommitShare).toBeUndefined();
  });

  it("checks the ref out in a temporary worktree sharing node_modules, and removes it", () => {
    const checkout = checkoutRef("HEAD");
    try {
      expect(checkout.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(existsSync(join(checkout.root, "bench", "target.ts"))).toBe(true);
      expect(realpathSync(join(checkout.root, "node_modules"))).toBe(realpathSync(join(REPO_ROOT, "node_modules")));
    } finally {
      checkout.remove();
    }
    expect(existsSync(checkout.root)).toBe(false);
  });

  it("refuses a ref that names no commit", () => {
    expect(() => checkoutRef("no-such-ref-anywhere")).toThrow();
  });
});
