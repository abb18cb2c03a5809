/**
 * Vault KV version 2 as a broker backend. A broker path under the mount maps onto a KV path:
 * with mount `kv/` and `kv_mount: secret`, `kv/app/db` is location `app/db`, read at
 * `secret/data/app/db`. A KV secret is a map; its broker value is that map as JSON text, and a
 * value written through the broker must be a JSON object. Versions are Vault's own numbers.
 */
import { BrokerError } from "../../errors.js";
import type {
  BackendValue,
  BackendVersionInfo,
  CachingBackend,
  ClosableBackend,
  DestroyableBackend,
  ListableBackend,
  WriteOptions,
} from "../backend.js";
import { readThrough, type ValueCache } from "../cache.js";
import type { MountGuard } from "../guard.js";
import type { BackendMetrics } from "../metrics.js";
import { vaultStatus } from "./errors.js";
import { checkVaultHealth } from "./health.js";
import type { VaultSession } from "./session.js";

export interface VaultKvBackendOptions {
  mount: string;
  /** The KV v2 engine's mount path in Vault, e.g. `secret`. */
  kvMount: string;
  session: VaultSession;
  guard: MountGuard;
  cache: ValueCache;
  metrics: Pick<BackendMetrics, "cache">;
  clock: () => number;
}

/** Most locations a `list` walks before it stops. */
const DEFAULT_LIST_LIMIT = 1000;

export class VaultKvBackend implements DestroyableBackend, ListableBackend, CachingBackend, ClosableBackend {
  readonly kind = "vault" as const;
  readonly mount: string;

  constructor(private readonly options: VaultKvBackendOptions) {
    this.mount = options.mount;
  }

  read(location: string, version?: number): Promise<BackendValue | undefined> {
    const { cache, metrics, guard, session } = this.options;
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) return Promise.resolve(undefined);
    return readThrough(cache, metrics.cache, this.mount, location, version, () =>
      guard.run("read", location, () =>
        session.call(async (client) => {
          const query = version === undefined ? "" : `?version=${version}`;
          const response = await notFoundAsUndefined(client.read(`${this.path("data", location)}${query}`));
          return response === undefined ? undefined : kvValue(response);
        }),
      ),
    );
  }

  async write(location: string, value: Buffer, _options: WriteOptions): Promise<number> {
    const data = kvData(this.mount, value);
    const { guard, session, cache } = this.options;
    try {
      const response = (await guard.run("write", location, () => session.call((client) => client.write(this.path("data", location), { data })))) as {
        data?: { version?: unknown };
      };
      const version = response.data?.version;
      if (typeof version !== "number") throw new BrokerError("backend_unavailable", `backend ${this.mount} answered a write without a version`);
      return version;
    } finally {
      cache.invalidate(location);
    }
  }

  async versions(location: string): Promise<BackendVersionInfo[]> {
    const metadata = await this.metadata(location);
    if (!metadata) return [];
    const now = this.options.clock();
    return Object.entries(metadata.versions ?? {})
      .map(([number, entry]) => ({
        version: Number(number),
        createdAt: Date.parse(entry.created_time ?? ""),
        createdBy: "",
        // A soft-deleted version cannot be read either until it is undeleted in Vault.
        destroyed: entry.destroyed === true || (!!entry.deletion_time && Date.parse(entry.deletion_time) <= now),
      }))
      .filter((entry) => Number.isSafeInteger(entry.version))
      .sort((a, b) => a.version - b.version);
  }

  /** KV v2 `destroy` of one version (POST {kv}/destroy/{path} `{versions: [n]}`): Vault removes its data for good. */
  async destroyVersion(location: string, version: number): Promise<boolean> {
    const { guard, session, cache } = this.options;
    const entry = (await this.metadata(location))?.versions?.[String(version)];
    // A version soft-deleted in Vault reads as destroyed, but its data is still there: destroy it too.
    if (!entry || entry.destroyed === true) return false;
    try {
      await guard.run("destroy", location, () => session.call((client) => client.write(this.path("destroy", location), { versions: [version] })));
      return true;
    } finally {
      cache.invalidate(location);
    }
  }

  async remove(location: string): Promise<boolean> {
    const { guard, session, cache } = this.options;
    try {
      return await guard.run("remove", location, () =>
        session.call(async (client) => {
          const found = await notFoundAsUndefined(client.read(this.path("metadata", location)));
          if (found === undefined) return false;
          await client.delete(this.path("metadata", location));
          return true;
        }),
      );
    } finally {
      cache.invalidate(location);
    }
  }

  async list(prefix: string, limit = DEFAULT_LIST_LIMIT): Promise<string[]> {
    const found: string[] = [];
    const start = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/") + 1) : "";
    const walk = async (folder: string): Promise<void> => {
      const keys = await this.listFolder(folder);
      for (const key of keys) {
        if (found.length >= limit) return;
        const location = `${folder}${key}`;
        if (key.endsWith("/")) {
          if (location.startsWith(prefix) || prefix.startsWith(location)) await walk(location);
        } else if (location.startsWith(prefix)) {
          found.push(location);
        }
      }
    };
    await walk(start);
    return found.sort();
  }

  invalidate(location?: string): void {
    this.options.cache.invalidate(location);
  }

  checkHealth(): Promise<void> {
    return checkVaultHealth(this.options.guard, this.options.session);
  }

  close(): Promise<void> {
    this.options.session.close();
    return Promise.resolve();
  }

  private async metadata(location: string): Promise<KvMetadata | undefined> {
    const { guard, session } = this.options;
    const response = (await guard.run("versions", location, () =>
      session.call((client) => notFoundAsUndefined(client.read(this.path("metadata", location)))),
    )) as { data?: KvMetadata } | undefined;
    return response?.data;
  }

  private async listFolder(folder: string): Promise<string[]> {
    const { guard, session } = this.options;
    const response = (await guard.run("list", folder || "/", () =>
      session.call((client) => notFoundAsUndefined(client.list(this.path("metadata", folder)))),
    )) as { data?: { keys?: unknown } } | undefined;
    const keys = response?.data?.keys;
    return Array.isArray(keys) ? keys.filter((key): key is string => typeof key === "string").sort() : [];
  }

  private path(kind: "data" | "metadata" | "destroy", location: string): string {
    const encoded = location
      .split("/")
      .map((segment) => (segment === "" ? "" : encodeURIComponent(segment)))
      .join("/");
    return `${this.options.kvMount}/${kind}/${encoded}`;
  }
}

interface KvMetadata {
  current_version?: number;
  versions?: Record<string, { created_time?: string; deletion_time?: string; destroyed?: boolean }>;
}

/** Vault answers a missing, deleted or destroyed KV secret (and an empty LIST) with 404. */
async function notFoundAsUndefined<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (vaultStatus(error) === 404) return undefined;
    throw error;
  }
}

function kvValue(response: unknown): BackendValue | undefined {
  const body = response as { data?: { data?: unknown; metadata?: { version?: unknown; created_time?: unknown } } };
  const data = body.data?.data;
  const metadata = body.data?.metadata;
  if (data === null || typeof data !== "object" || typeof metadata?.version !== "number") return undefined;
  const createdAt = typeof metadata.created_time === "string" ? Date.parse(metadata.created_time) : Number.NaN;
  return { bytes: Buffer.from(JSON.stringify(data), "utf8"), version: metadata.version, createdAt: Number.isNaN(createdAt) ? 0 : createdAt };
}

/** The KV map a broker value stands for: the value must be a JSON object. */
function kvData(mount: string, value: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new BrokerError("invalid_request", `a value on vault mount ${mount} must be a JSON object (Vault KV stores maps), e.g. {"password": "..."}`);
  }
  return parsed as Record<string, unknown>;
}
