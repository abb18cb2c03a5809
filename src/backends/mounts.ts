/**
 * The mount table: maps a secret path onto a backend and the location inside it. The longest
 * matching mount prefix wins; paths under no mount live in the local store.
 */
import { isCaching, isClosable, type SecretBackend } from "./backend.js";

export interface Mount {
  /** Prefix ending in "/", e.g. "kv/". */
  path: string;
  backend: SecretBackend;
}

export interface ResolvedMount {
  backend: SecretBackend;
  /** The location inside the backend: the path with the mount prefix removed. */
  location: string;
}

export class MountTable {
  private readonly mounts: Mount[];

  constructor(
    mounts: Mount[],
    private readonly fallback: SecretBackend,
  ) {
    this.mounts = [...mounts].sort((a, b) => b.path.length - a.path.length);
  }

  resolve(path: string): ResolvedMount {
    for (const mount of this.mounts) {
      if (path.startsWith(mount.path) && path.length > mount.path.length) {
        return { backend: mount.backend, location: path.slice(mount.path.length) };
      }
    }
    return { backend: this.fallback, location: path };
  }

  /** The configured mounts, longest path first (the local store serving unmounted paths is not one). */
  mounted(): readonly Mount[] {
    return this.mounts;
  }

  all(): SecretBackend[] {
    return [this.fallback, ...this.mounts.map((mount) => mount.backend)];
  }

  /**
   * Drops cached values of `path` on its mount (every cached value of every mount when omitted).
   * For changes made elsewhere: another broker (LISTEN/NOTIFY), a rotation run by the backend.
   */
  invalidate(path?: string): void {
    if (path === undefined) {
      for (const backend of this.all()) if (isCaching(backend)) backend.invalidate();
      return;
    }
    const { backend, location } = this.resolve(path);
    if (isCaching(backend)) backend.invalidate(location);
  }

  /** Stops background work of every backend (token renewal) and releases connections. */
  async close(): Promise<void> {
    await Promise.allSettled(this.all().map((backend) => (isClosable(backend) ? backend.close() : Promise.resolve())));
  }
}
