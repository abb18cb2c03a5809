import { describe, expect, it } from "vitest";

import { BrokerError } from "../../src/errors.js";
import { durationProblem, formatDuration, parseDuration } from "../../src/policy/duration.js";

describe("parseDuration", () => {
  it.each([
    ["30s", 30],
    ["15m", 900],
    ["1h", 3_600],
    ["24h", 86_400],
    ["90d", 7_776_000],
    ["2w", 1_209_600],
    ["1h30m", 5_400],
    ["1d12h", 129_600],
    ["1w2d3h4m5s", 788_645],
  ])("%s is %i seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([
    ["", "empty"],
    ["15", "no unit"],
    ["m", "no number"],
    ["0s", "zero"],
    ["0h0m", "zero in parts"],
    ["-5m", "negative"],
    ["1.5h", "fraction"],
    ["15 m", "space"],
    [" 15m", "leading space"],
    ["15M", "upper-case unit"],
    ["15ms", "unknown unit"],
    ["1y", "years are not a unit"],
    ["30m1h", "units out of order"],
    ["1h1h", "unit repeated"],
    ["99999999999999999999w", "beyond a safe integer"],
  ])("%j is rejected (%s) with code invalid_request", (text) => {
    expect(() => parseDuration(text)).toThrow(BrokerError);
    try {
      parseDuration(text);
    } catch (error) {
      expect((error as BrokerError).code).toBe("invalid_request");
      expect((error as BrokerError).message).toContain("invalid duration");
    }
  });

  it("reports non-strings as problems instead of throwing", () => {
    expect(durationProblem(900)).toMatch(/expected a duration/);
    expect(durationProblem(null)).toMatch(/expected a duration/);
    expect(durationProblem("15m")).toEqual({ seconds: 900 });
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [30, "30s"],
    [900, "15m"],
    [3_600, "1h"],
    [5_400, "1h30m"],
    [86_400, "1d"],
    [7_776_000, "90d"],
    [1_209_600, "2w"],
    [90_061, "1d1h1m1s"],
  ])("%i seconds is %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it.each([1, 59, 61, 3_599, 86_401, 604_800, 7_776_000, 31_536_000])("round-trips %i seconds", (seconds) => {
    expect(parseDuration(formatDuration(seconds))).toBe(seconds);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("throws TypeError for %s (a programming error)", (seconds) => {
    expect(() => formatDuration(seconds)).toThrow(TypeError);
  });
});
