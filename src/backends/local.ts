/**
 * The local encrypted store: secret versions envelope-encrypted in the broker's own database
 * (see crypto/envelope.ts). The location is the secret path itself.
 */
import type { Envelope } from "../crypto/envelope.js";
import type { Store } from "../store/store.js";
import type { BackendValue, BackendVersionInfo, WritableBackend, WriteOptions } from "./backend.js";

export class LocalBackend implements WritableBackend {
  readonly kind = "local" as const;
  readonly mount = "local";

  constructor(
    private readonly store: Pick<
      Store,
      "writeSecretVersion" | "getSecretMetadata" | "getEncryptedVersion" | "listVersions" | "deleteSecret" | "ping"
    >,
    private readonly envelope: Envelope,
    private readonly clock: () => number = Date.now,
  ) {}

  async read(location: string, version?: number): Promise<BackendValue | undefined> {
    let wanted = version;
    if (wanted === undefined) {
      const metadata = await this.store.getSecretMetadata(location);
      if (!metadata || metadata.deletedAt !== null) return undefined;
      wanted = metadata.currentVersion;
    }
    const row = await this.store.getEncryptedVersion(location, wanted);
    if (!row || row.destroyedAt !== null) return undefined;
    const bytes = this.envelope.open({ path: location, version: row.version }, row);
    return { bytes, version: row.version, createdAt: row.createdAt };
  }

  write(location: string, value: Buffer, options: WriteOptions): Promise<number> {
    const { createdBy, ...metadata } = options;
    return this.store.writeSecretVersion({
      path: location,
      metadata,
      createdBy,
      now: this.clock(),
      seal: (version) => this.envelope.seal({ path: location, version }, value),
    });
  }

  async versions(location: string): Promise<BackendVersionInfo[]> {
    const rows = await this.store.listVersions(location);
    return rows.map((row) => ({ version: row.version, createdAt: row.createdAt, createdBy: row.createdBy, destroyed: row.destroyedAt !== null }));
  }

  remove(location: string): Promise<boolean> {
    return this.store.deleteSecret(location, this.clock());
  }

  checkHealth(): Promise<void> {
    return this.store.ping();
  }
}
