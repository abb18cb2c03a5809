/** Reading callgrind's count for bench/instructions.ts (the valgrind runs themselves are too slow for the suite). */
import { describe, expect, it } from "vitest";
import { callgrindTotal } from "../../bench/instructions.js";

describe("callgrind dump totals", () => {
  it("reads the totals line, not the summary line callgrind leaves at 0 for a dump on demand", () => {
    const dump = ["version: 1", "creator: callgrind-3.19.0", "pid: 20207", "part: 1", "summary: 0", "", "fn=(1) main", "0 12", "totals: 153803404", ""].join("\n");
    expect(callgrindTotal(dump)).toBe(153_803_404);
  });

  it("refuses a dump without a totals line instead of counting zero", () => {
    expect(() => callgrindTotal("version: 1\nsummary: 0\n")).toThrow(/without a totals line/);
  });
});
