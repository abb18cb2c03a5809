/**
 * A bounded in-memory cache of rows read on every request (the calling server, the secret's
 * metadata, the encrypted version). Only sound while this process is the one writing those rows:
 * true for a SQLite file, which one broker process owns; every write through the store drops the
 * affected entries before it returns. Holds ciphertext and metadata only, never a plaintext value.
 */
export class RowCache<V> {
  private readonly rows = new Map<string, V>();

  constructor(private readonly maxEntries = 10_000) {}

  get(key: string, load: () => V): V {
    // One lookup: absence is never stored (below), so undefined means "not cached".
    const cached = this.rows.get(key);
    if (cached !== undefined) return cached;
    const value = load();
    // Absence is not cached: a row created by another path (a migration, a restore) is found at once.
    if (value !== undefined) {
      if (this.rows.size >= this.maxEntries) this.rows.clear();
      this.rows.set(key, value);
    }
    return value;
  }

  delete(key: string): void {
    this.rows.delete(key);
  }

  /** Drops every key starting with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const key of this.rows.keys()) if (key.startsWith(prefix)) this.rows.delete(key);
  }

  clear(): void {
    this.rows.clear();
  }
}
