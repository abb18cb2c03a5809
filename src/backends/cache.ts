/**
 * A short in-memory cache of values for one remote mount: bounded in entries (least recently used
 * goes first) and in age (an entry older than `maxAgeMs` is never served). It spares the remote
 * backend a round trip per read of a hot secret; it is not a fallback: when an entry is too old the
 * read goes to the backend, and fails if the backend does.
 */
import type { BackendValue } from "./backend.js";

export interface ValueCacheOptions {
  /** Longest time an entry is served, ms (default 30 000; 0 disables the cache). */
  maxAgeMs?: number;
  /** Most entries kept (default 1000; 0 disables the cache). */
  maxEntries?: number;
  clock?: () => number;
}

interface Entry {
  value: BackendValue;
  storedAt: number;
}

export class ValueCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private readonly clock: () => number;

  constructor(options: ValueCacheOptions = {}) {
    const { maxAgeMs = 30_000, maxEntries = 1000, clock = Date.now } = options;
    if (!(maxAgeMs >= 0) || !Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError("cache bounds must be >= 0");
    this.maxAgeMs = maxAgeMs;
    this.maxEntries = maxEntries;
    this.clock = clock;
  }

  get enabled(): boolean {
    return this.maxAgeMs > 0 && this.maxEntries > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached value of `location` at `version` (current when undefined), or undefined. A copy: callers may wipe it. */
  get(location: string, version: number | undefined): BackendValue | undefined {
    const key = cacheKey(location, version);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.clock() - entry.storedAt >= this.maxAgeMs) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return copy(entry.value);
  }

  set(location: string, version: number | undefined, value: BackendValue): void {
    if (!this.enabled) return;
    const key = cacheKey(location, version);
    this.entries.delete(key);
    this.entries.set(key, { value: copy(value), storedAt: this.clock() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Drops every version of `location`, or everything when omitted. */
  invalidate(location?: string): void {
    if (location === undefined) {
      this.entries.clear();
      return;
    }
    const prefix = `${location}\u0000`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}

function cacheKey(location: string, version: number | undefined): string {
  return `${location}\u0000${version ?? "current"}`;
}

function copy(value: BackendValue): BackendValue {
  return { ...value, bytes: Buffer.from(value.bytes) };
}

/**
 * Serves `location`@`version` from `cache` when fresh, otherwise loads it and caches a found
 * value. Absence (`undefined`) is never cached, so a secret created elsewhere shows up at once.
 */
export async function readThrough(
  cache: ValueCache,
  counter: { inc(labels: { mount: string; result: string }): void },
  mount: string,
  location: string,
  version: number | undefined,
  load: () => Promise<BackendValue | undefined>,
): Promise<BackendValue | undefined> {
  if (cache.enabled) {
    const hit = cache.get(location, version);
    counter.inc({ mount, result: hit ? "hit" : "miss" });
    if (hit) return hit;
  }
  const value = await load();
  if (value) cache.set(location, version, value);
  return value;
}
