/** The per-mount value cache: bounded in age and entries, invalidated per location, never caching absence. */
import { describe, expect, it } from "vitest";
import type { BackendValue } from "../../src/backends/backend.js";
import { ValueCache, readThrough } from "../../src/backends/cache.js";

const value = (text: string, version = 1): BackendValue => ({ bytes: Buffer.from(text), version, createdAt: 1 });

function setup(options: { maxAgeMs?: number; maxEntries?: number } = {}) {
  let now = 0;
  const cache = new ValueCache({ ...options, clock: () => now });
  return { cache, advance: (ms: number) => (now += ms) };
}

describe("value cache", () => {
  it("serves an entry until it is max_age old, then forgets it", () => {
    const { cache, advance } = setup({ maxAgeMs: 30_000 });
    cache.set("app", undefined, value("a"));
    advance(29_999);
    expect(cache.get("app", undefined)?.bytes.toString()).toBe("a");
    advance(1);
    expect(cache.get("app", undefined)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps current and versioned reads apart", () => {
    const { cache } = setup();
    cache.set("app", undefined, value("current", 2));
    cache.set("app", 1, value("old", 1));
    expect(cache.get("app", undefined)?.version).toBe(2);
    expect(cache.get("app", 1)?.version).toBe(1);
    expect(cache.get("app", 2)).toBeUndefined();
  });

  it("evicts the least recently used entry beyond max_entries", () => {
    const { cache } = setup({ maxEntries: 2 });
    cache.set("a", undefined, value("a"));
    cache.set("b", undefined, value("b"));
    cache.get("a", undefined);
    cache.set("c", undefined, value("c"));
    expect(cache.get("b", undefined)).toBeUndefined();
    expect(cache.get("a", undefined)).toBeDefined();
    expect(cache.get("c", undefined)).toBeDefined();
  });

  it("invalidates every version of one location, or everything", () => {
    const { cache } = setup();
    cache.set("app", undefined, value("x"));
    cache.set("app", 3, value("x"));
    cache.set("app/child", undefined, value("y"));
    cache.invalidate("app");
    expect(cache.get("app", undefined)).toBeUndefined();
    expect(cache.get("app", 3)).toBeUndefined();
    expect(cache.get("app/child", undefined)).toBeDefined();
    cache.invalidate();
    expect(cache.size).toBe(0);
  });

  it("hands out copies, so a caller wiping its buffer cannot corrupt the cache", () => {
    const { cache } = setup();
    cache.set("app", undefined, value("secret"));
    cache.get("app", undefined)?.bytes.fill(0);
    expect(cache.get("app", undefined)?.bytes.toString()).toBe("secret");
  });

  it("is off with max_entries 0", () => {
    const { cache } = setup({ maxEntries: 0 });
    cache.set("app", undefined, value("x"));
    expect(cache.enabled).toBe(false);
    expect(cache.get("app", undefined)).toBeUndefined();
  });

  it("reads through: loads on a miss, serves a hit, never caches absence", async () => {
    const { cache } = setup();
    const counts: string[] = [];
    const counter = { inc: (labels: { result: string }) => counts.push(labels.result) };
    let loads = 0;
    const load = (found: boolean) => async () => {
      loads += 1;
      return found ? value("v") : undefined;
    };
    expect(await readThrough(cache, counter, "kv/", "missing", undefined, load(false))).toBeUndefined();
    expect(await readThrough(cache, counter, "kv/", "missing", undefined, load(false))).toBeUndefined();
    await readThrough(cache, counter, "kv/", "app", undefined, load(true));
    await readThrough(cache, counter, "kv/", "app", undefined, load(true));
    expect(loads).toBe(3);
    expect(counts).toEqual(["miss", "miss", "miss", "hit"]);
  });
});
