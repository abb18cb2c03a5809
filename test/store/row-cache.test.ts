/** The row cache's rule for asynchronous loads: a removal while a load runs keeps that load's result out of the cache. */
import { describe, expect, it } from "vitest";
import { RowCache } from "../../src/store/row-cache.js";

describe("RowCache.getAsync", () => {
  it("serves the second read from the cache and never caches absence", async () => {
    const cache = new RowCache<string | undefined>();
    let loads = 0;
    const load = async () => {
      loads += 1;
      return "row";
    };
    expect(await cache.getAsync("k", load)).toBe("row");
    expect(await cache.getAsync("k", load)).toBe("row");
    expect(loads).toBe(1);
    expect(await cache.getAsync("missing", async () => undefined)).toBeUndefined();
    expect(await cache.getAsync("missing", async () => "created later")).toBe("created later");
  });

  it("does not store a row read before a write that removed its key", async () => {
    const cache = new RowCache<string | undefined>();
    let finishLoad!: (value: string) => void;
    const reading = cache.getAsync("k", () => new Promise<string>((resolve) => (finishLoad = resolve)));
    // A write lands while the read is in flight, and drops the key.
    cache.delete("k");
    finishLoad("stale row");
    expect(await reading).toBe("stale row");
    expect(await cache.getAsync("k", async () => "fresh row")).toBe("fresh row");
  });
});
