/** Lease upkeep decisions and backoff, on a frozen clock. */
import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../src/sdk/backoff.js";
import { dueWork, refreshTime } from "../../src/sdk/secret-set.js";

const NOW = 1_000_000;
type EntryView = Parameters<typeof dueWork>[0] extends Iterable<infer E> ? E : never;
const entry = (overrides: Partial<EntryView> & { name: string }) => ({ state: "valid" as const, stale: false, renewable: true, refreshAt: NOW + 10_000, expiresAt: NOW + 30_000, ...overrides });

describe("refreshTime", () => {
  it.each([
    [0, 9_000, 2 / 3, 0, 6_000],
    [0, 9_000, 2 / 3, 1, 5_700],
    [1_000, 1_000, 2 / 3, 0, 1_000],
  ])("obtained %i, expires %i, fraction %f, jitter %f: %i", (obtained, expires, fraction, random, expected) => {
    expect(refreshTime(obtained, expires, fraction, () => random)).toBeCloseTo(expected, 6);
  });
});

describe("dueWork", () => {
  it.each([
    ["nothing due: waits for the earliest refresh", [entry({ name: "a" })], { expire: [], renew: [], fetch: [], nextAt: NOW + 10_000 }],
    ["a renewable lease at its refresh time is renewed", [entry({ name: "a", refreshAt: NOW })], { expire: [], renew: ["a"], fetch: [], nextAt: NOW }],
    // A timer fires on whole milliseconds: just short of the refresh time, look again at it.
    ["a refresh time a fraction of a millisecond ahead is waited for", [entry({ name: "a", refreshAt: NOW + 0.4 })], { expire: [], renew: [], fetch: [], nextAt: NOW + 0.4 }],
    ["a lease that cannot be renewed is replaced by a fresh read", [entry({ name: "a", refreshAt: NOW, renewable: false })], { expire: [], renew: [], fetch: ["a"], nextAt: NOW }],
    ["a stale value (event, poll) is read again even if renewable", [entry({ name: "a", stale: true })], { expire: [], renew: [], fetch: ["a"], nextAt: NOW }],
    ["a lease past its end expires and is read again", [entry({ name: "a", refreshAt: NOW - 1, expiresAt: NOW })], { expire: ["a"], renew: [], fetch: ["a"], nextAt: NOW }],
    ["a revoked value waits for its retry time", [entry({ name: "a", state: "revoked", refreshAt: NOW + 500 })], { expire: [], renew: [], fetch: [], nextAt: NOW + 500 }],
    // Computed after a pass with a later clock, a renewal that fell due meanwhile is not slept past.
    ["due work keeps the next look at now, before later expiries", [entry({ name: "a", refreshAt: NOW - 0.6 }), entry({ name: "b" })], { expire: [], renew: ["a"], fetch: [], nextAt: NOW }],
    ["a closed value is left alone", [entry({ name: "a", state: "closed", refreshAt: NOW - 1 })], { expire: [], renew: [], fetch: [], nextAt: undefined }],
  ] as const)("%s", (_title, entries, expected) => {
    const work = dueWork(entries as unknown as EntryView[], NOW);
    const names = (list: EntryView[]) => list.map((e) => (e as unknown as { name: string }).name);
    expect({ expire: names(work.expire), renew: names(work.renew), fetch: names(work.fetch), nextAt: work.nextAt }).toEqual(expected);
  });
});

describe("backoffDelay", () => {
  const policy = { baseDelayMs: 200, maxDelayMs: 5_000 };
  it.each([
    [0, 0, 100],
    [0, 1, 200],
    [3, 0, 800],
    [3, 1, 1_600],
    [10, 1, 5_000],
    [10, 0, 2_500],
  ])("retry %i with random %f waits %i ms", (retry, random, expected) => {
    expect(backoffDelay(retry, policy, () => random)).toBe(expected);
  });
});
