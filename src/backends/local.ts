/**
 * The local encrypted store: secret versions envelope-encrypted in the broker's own database
 * (see crypto/envelope.ts). The location is the secret path itself: a `local` mount keeps its
 * prefix in the location (`scoped`), so paths never collide with unmounted ones.
 */
import { z } from "zod";
import type { Envelope } from "../crypto/envelope.js";
import type { Store } from "../store/store.js";
import type { BackendValue, BackendVersionInfo, DestroyableBackend, ListableBackend, WriteOptions } from "./backend.js";
import { mountPath } from "./mount-options.js";
import type { BackendPlugin } from "./plugin.js";

type LocalStore = Pick<
  Store,
  "writeSecretVersion" | "getEncryptedVersion" | "getCurrentEncryptedVersion" | "listVersions" | "deleteSecret" | "destroySecretVersion" | "ping" | "listSecrets"
>;

export class LocalBackend implements DestroyableBackend, ListableBackend {
  readonly kind = "local" as const;
  readonly mount: string;

  /**
   * @param prefix prepended to every location (the mount path of a `local` mount; "" for the
   *   default store that serves paths under no mount).
   */
  constructor(
    private readonly store: LocalStore,
    private readonly envelope: Envelope,
    private readonly clock: () => number = Date.now,
    private readonly prefix = "",
  ) {
    this.mount = prefix === "" ? "local" : prefix;
  }

  /** The same store serving a `local` mount at `prefix` (e.g. `team/`). */
  scoped(prefix: string): LocalBackend {
    return new LocalBackend(this.store, this.envelope, this.clock, `${this.prefix}${prefix}`);
  }

  async read(location: string, version?: number): Promise<BackendValue | undefined> {
    const path = this.prefix + location;
    const row = await (version === undefined ? this.store.getCurrentEncryptedVersion(path) : this.store.getEncryptedVersion(path, version));
    if (!row || row.destroyedAt !== null) return undefined;
    const bytes = this.envelope.open({ path, version: row.version }, row);
    return { bytes, version: row.version, createdAt: row.createdAt };
  }

  write(location: string, value: Buffer, options: WriteOptions): Promise<number> {
    const path = this.prefix + location;
    const { createdBy, ...metadata } = options;
    return this.store.writeSecretVersion({
      path,
      metadata,
      createdBy,
      now: this.clock(),
      seal: (version) => this.envelope.seal({ path, version }, value),
    });
  }

  async versions(location: string): Promise<BackendVersionInfo[]> {
    const rows = await this.store.listVersions(this.prefix + location);
    return rows.map((row) => ({ version: row.version, createdAt: row.createdAt, createdBy: row.createdBy, destroyed: row.destroyedAt !== null }));
  }

  destroyVersion(location: string, version: number): Promise<boolean> {
    return this.store.destroySecretVersion(this.prefix + location, version, this.clock());
  }

  remove(location: string): Promise<boolean> {
    return this.store.deleteSecret(this.prefix + location, this.clock());
  }

  async list(prefix: string, limit = 1000): Promise<string[]> {
    const rows = await this.store.listSecrets(this.prefix + prefix);
    return rows.slice(0, limit).map((row) => row.path.slice(this.prefix.length));
  }

  checkHealth(): Promise<void> {
    return this.store.ping();
  }
}

const localMountSchema = z.object({ path: mountPath, backend: z.literal("local") }).strict();

/** `{path: team/, backend: local}`: the broker's own store, with the mount path kept in the stored path. */
export const localPlugin = {
  kind: "local",
  configSchema: localMountSchema,
  capabilities: () => ({ staticRead: true, versions: true, list: true, dynamicIssuance: false }),
  create: (mount, deps) => deps.local.scoped(mount.path),
} satisfies BackendPlugin<"local", z.output<typeof localMountSchema>>;
