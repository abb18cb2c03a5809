/**
 * A bounded in-memory cache of rows read on every request (the calling server, the secret's
 * metadata, the encrypted version), and the decorators that put it in front of the server and
 * secret repositories. Only sound while this process is the one writing those rows: true for a
 * SQLite file, which one broker process owns, so only the SQLite store uses it (PostgreSQL is
 * shared by several brokers and reads every time). Every write through a decorator drops the
 * entries it affects. Holds ciphertext and metadata only, never a plaintext value.
 */
import type { SecretMetadata, ServerRecord } from "../domain.js";
import type { SecretRepository } from "./repositories/secrets.js";
import type { ServerRepository } from "./repositories/servers.js";
import type { EncryptedVersion } from "./store.js";

export class RowCache<V> {
  private readonly rows = new Map<string, V>();
  /** Bumped by every removal: a load that started before one must not store what it read. */
  private generation = 0;

  constructor(private readonly maxEntries = 10_000) {}

  get(key: string, load: () => V): V {
    // One lookup: absence is never stored (below), so undefined means "not cached".
    const cached = this.rows.get(key);
    if (cached !== undefined) return cached;
    const value = load();
    this.store(key, value);
    return value;
  }

  /** `get` for an asynchronous load; a removal while the load runs keeps its result out of the cache. */
  getAsync(key: string, load: () => Promise<V>): Promise<V> {
    // Not an async function: a hit (the per-request case) costs no extra turns of the microtask queue.
    const cached = this.rows.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const generation = this.generation;
    return load().then((value) => {
      if (generation === this.generation) this.store(key, value);
      return value;
    });
  }

  private store(key: string, value: V): void {
    // Absence is not cached: a row created by another path (a migration, a restore) is found at once.
    if (value === undefined) return;
    if (this.rows.size >= this.maxEntries) this.rows.clear();
    this.rows.set(key, value);
  }

  delete(key: string): void {
    this.generation += 1;
    this.rows.delete(key);
  }

  /** Drops every key starting with `prefix`. */
  deletePrefix(prefix: string): void {
    this.generation += 1;
    for (const key of this.rows.keys()) if (key.startsWith(prefix)) this.rows.delete(key);
  }

  clear(): void {
    this.generation += 1;
    this.rows.clear();
  }
}

/** Runs `drop` before and after `write`: before, so no read during the write is served from the cache; after, for what a read stored meanwhile. */
async function writeThrough<T>(drop: () => void, write: () => Promise<T>): Promise<T> {
  drop();
  try {
    return await write();
  } finally {
    drop();
  }
}

/** Servers by id from the cache; creating, disabling and setting tokens-not-before drop the entry. */
export function cachedServers(inner: ServerRepository, cache = new RowCache<ServerRecord | undefined>()): ServerRepository {
  return {
    ...inner,
    get: (id) => cache.getAsync(id, () => inner.get(id)),
    create: (server) => writeThrough(() => cache.delete(server.id), () => inner.create(server)),
    setDisabled: (id, disabledAt) => writeThrough(() => cache.delete(id), () => inner.setDisabled(id, disabledAt)),
    setTokensNotBefore: (id, notBefore) => writeThrough(() => cache.delete(id), () => inner.setTokensNotBefore(id, notBefore)),
    markDeleted: (id, now) => writeThrough(() => cache.delete(id), () => inner.markDeleted(id, now)),
  };
}

/**
 * Secret metadata and encrypted versions from the cache; the current version is the cached
 * metadata's version (two cache hits, no join). Writing, deleting and re-wrapping drop what they change.
 */
export function cachedSecrets(inner: SecretRepository): SecretRepository {
  const metadata = new RowCache<SecretMetadata | undefined>();
  const versions = new RowCache<EncryptedVersion | undefined>();
  const versionKey = (path: string, version: number) => `${path}\u0000${version}`;
  const metadataOf = (path: string) => metadata.getAsync(path, () => inner.metadata(path));
  const versionOf = (path: string, version: number) => versions.getAsync(versionKey(path, version), () => inner.version(path, version));
  return {
    ...inner,
    metadata: metadataOf,
    version: versionOf,
    currentVersion: (path) =>
      metadataOf(path).then((current) => (current && current.deletedAt === null ? versionOf(path, current.currentVersion) : undefined)),
    write: (write) => writeThrough(() => metadata.delete(write.path), () => inner.write(write)),
    delete: (path, now) =>
      writeThrough(
        () => {
          metadata.delete(path);
          versions.deletePrefix(`${path}\u0000`);
        },
        () => inner.delete(path, now),
      ),
    destroyVersion: (path, version, now) => writeThrough(() => versions.delete(versionKey(path, version)), () => inner.destroyVersion(path, version, now)),
    rewrap: (path, version, expectedKeyId, keyId, wrappedKey) =>
      writeThrough(() => versions.delete(versionKey(path, version)), () => inner.rewrap(path, version, expectedKeyId, keyId, wrappedKey)),
  };
}
