/**
 * Operator-side secret management: write a version (from a value or generated), list metadata,
 * list versions, read (audited as `secret.get`, like any access), roll back to an earlier
 * version's value, destroy one version, delete.
 */
import { randomBytes } from "node:crypto";
import { pageOf, type Page, type PageRequest, type RequestMeta, type SecretMetadata, type Sensitivity } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry, type Actor } from "../audit/entry.js";
import { isDestroyable, isListable, isWritable, type BackendKind, type BackendVersionInfo, type WritableBackend, type WriteOptions } from "../backends/backend.js";
import type { Mount, MountTable } from "../backends/mounts.js";
import type { Store } from "../store/store.js";
import { encodeValue, parseSecretName, selectKey } from "./name.js";

/** Largest secret value accepted, bytes. */
export const MAX_SECRET_BYTES = 32 * 1024;

export interface SecretAdminDeps {
  store: Pick<Store, "getSecretMetadata" | "listSecrets">;
  mounts: Pick<MountTable, "resolve" | "mounted">;
  audit: Pick<AuditWriter, "record">;
  clock: () => number;
  /** Told of every new version or deletion, for event streams and caches. */
  onChanged?: (path: string, version: number | null) => void;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard padded base64 (RFC 4648 section 4) strictly: Node's decoder stops at the first
 * character it does not know and drops what follows, so `aGVsbG8=garbage` would be stored as
 * `hello`. base64url, missing padding, whitespace and non-zero trailing bits are refused; the
 * re-encoding check catches the last (`aGVsbG9=` is not the canonical form of any value).
 * Throws `invalid_request` naming `field`.
 */
export function decodeBase64Strict(encoded: string, field: string): Buffer {
  const bytes = Buffer.from(encoded, "base64");
  if (!BASE64.test(encoded) || bytes.toString("base64") !== encoded) {
    throw new BrokerError("invalid_request", `${field} is not valid base64 (standard alphabet, padded)`, { data: { problems: [`${field}: not valid base64`] } });
  }
  return bytes;
}

const GENERATED_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A random alphanumeric value of `length` characters, without modulo bias. */
export function generateValue(length: number): string {
  if (!Number.isInteger(length) || length < 8 || length > 4096) throw new BrokerError("invalid_request", "generate length must be 8..4096");
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      if (byte < 248 && out.length < length) out += GENERATED_ALPHABET[byte % 62];
    }
  }
  return out;
}

/**
 * One entry of the operators' secret list: where it lives, and the metadata the broker or the
 * backend keeps. A secret of a Vault or AWS mount is listed by name only: the broker keeps no
 * metadata for it, so those fields are null.
 */
export interface ListedSecret {
  path: string;
  /** The mount it lives on ("local" for paths under no mount). */
  mount: string;
  backend: BackendKind;
  description: string | null;
  owner: string | null;
  labels: Record<string, string> | null;
  sensitivity: Sensitivity | null;
  currentVersion: number | null;
  createdAt: number | null;
  updatedAt: number | null;
}

export class SecretAdmin {
  constructor(private readonly deps: SecretAdminDeps) {}

  private writable(path: string): { backend: WritableBackend; location: string } {
    const { backend, location } = this.deps.mounts.resolve(path);
    if (!isWritable(backend)) throw new BrokerError("invalid_request", `mount ${backend.mount} is read-only`);
    return { backend, location };
  }

  async put(actor: Actor, rawPath: string, value: Buffer, options: Omit<WriteOptions, "createdBy">, meta: RequestMeta): Promise<number> {
    const name = parseSecretName(rawPath);
    if (name.key !== undefined) throw new BrokerError("invalid_path", "write the whole secret, not one #key of it");
    if (value.length === 0) throw new BrokerError("invalid_request", "a secret value cannot be empty");
    if (value.length > MAX_SECRET_BYTES) throw new BrokerError("payload_too_large", `a secret value is at most ${MAX_SECRET_BYTES} bytes`);
    const { backend, location } = this.writable(name.path);
    const version = await backend.write(location, value, { ...options, createdBy: actor.id });
    await this.deps.audit.record(auditEntry(actor, meta, { action: "admin.secret.write", resource: name.path, outcome: "allowed", reason: "new version", version }, this.deps.clock()));
    this.deps.onChanged?.(name.path, version);
    return version;
  }

  /**
   * One page of the secrets whose path starts with `prefix`, sorted by path: the local store's
   * (with their metadata) and those of every listable remote mount the prefix reaches (names
   * only). The store reads one page; a remote mount lists its names whole (Vault and AWS list
   * without a start key) and the page keeps those after `page.after`. A remote mount that cannot
   * list fails the whole list with its BrokerError (503 `backend_unavailable`, 403 `forbidden`,
   * naming the mount): an incomplete list never passes for a complete one. A prefix outside a
   * mount's path does not call that mount.
   */
  async list(prefix: string, page: PageRequest<string>): Promise<Page<ListedSecret, string>> {
    if (prefix !== "" && !/^[A-Za-z0-9._+=@\/-]*$/.test(prefix)) throw new BrokerError("invalid_path", "invalid prefix");
    const [stored, remote] = await Promise.all([
      this.deps.store.listSecrets(prefix, { ...page, limit: page.limit + 1 }),
      Promise.all(this.deps.mounts.mounted().map((mount) => this.listRemote(mount, prefix))),
    ]);
    const local = stored.map((metadata): ListedSecret => {
      const { backend } = this.deps.mounts.resolve(metadata.path);
      const { path, description, owner, labels, sensitivity, currentVersion, createdAt, updatedAt } = metadata;
      return { path, mount: backend.mount, backend: backend.kind, description, owner, labels, sensitivity, currentVersion, createdAt, updatedAt };
    });
    const after = page.after;
    const remoteAfter = remote.flat().filter((secret) => after === undefined || secret.path > after);
    // The first limit + 1 of the merge are the true first limit + 1: the store gave that many of its own.
    const merged = [...local, ...remoteAfter].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).slice(0, page.limit + 1);
    return pageOf(merged, page.limit, (secret) => secret.path);
  }

  /** The names a remote mount holds under `prefix`; none for a local mount (the store lists those) or one that cannot list. */
  private async listRemote(mount: Mount, prefix: string): Promise<ListedSecret[]> {
    const { backend } = mount;
    if (backend.kind === "local" || !isListable(backend)) return [];
    let location: string;
    if (prefix.startsWith(mount.path)) location = prefix.slice(mount.path.length);
    else if (mount.path.startsWith(prefix)) location = "";
    else return [];
    const names = await backend.list(location);
    return names
      .map((name) => `${mount.path}${name}`)
      // A mount nested inside this one serves its own paths.
      .filter((path) => this.deps.mounts.resolve(path).backend === backend)
      .map((path) => ({ path, mount: mount.path, backend: backend.kind, description: null, owner: null, labels: null, sensitivity: null, currentVersion: null, createdAt: null, updatedAt: null }));
  }

  /**
   * Metadata of a secret. The broker keeps metadata for what it stored itself; a secret that lives
   * only in a remote backend (written in Vault or AWS directly) is described from its versions.
   */
  async metadata(rawPath: string): Promise<SecretMetadata> {
    const name = parseSecretName(rawPath);
    const metadata = await this.deps.store.getSecretMetadata(name.path);
    if (metadata && metadata.deletedAt === null) return metadata;
    const { backend } = this.deps.mounts.resolve(name.path);
    if (backend.kind !== "local") {
      const versions = await this.versions(name.path);
      const first = versions[0]!;
      const last = versions.at(-1)!;
      return { path: name.path, description: "", owner: "", labels: {}, sensitivity: "medium", currentVersion: last.version, createdAt: first.createdAt, updatedAt: last.createdAt, deletedAt: null };
    }
    throw new BrokerError("not_found", `secret ${name.path} not found`);
  }

  async versions(rawPath: string): Promise<BackendVersionInfo[]> {
    const name = parseSecretName(rawPath);
    const { backend, location } = this.writable(name.path);
    const versions = await backend.versions(location);
    if (versions.length === 0) throw new BrokerError("not_found", `secret ${name.path} not found`);
    return versions;
  }

  /** An operator reads a value: audited exactly like a server's read. */
  async get(actor: Actor, rawPath: string, version: number | undefined, meta: RequestMeta) {
    const name = parseSecretName(rawPath);
    const now = this.deps.clock();
    const { backend, location } = this.deps.mounts.resolve(name.path);
    const found = await backend.read(location, version);
    const bytes = found && (name.key === undefined ? found.bytes : selectKey(found.bytes, name.key));
    if (!found || !bytes) {
      const destroyed = !found && version !== undefined && (await this.isDestroyed(backend, location, version));
      await this.deps.audit.record(auditEntry(actor, meta, { action: "secret.get", resource: name.name, outcome: "error", reason: destroyed ? "version_destroyed" : "not_found" }, now));
      throw new BrokerError("not_found", destroyed ? `version ${version} of ${name.path} was destroyed` : `secret ${name.name} not found`, { audited: true });
    }
    await this.deps.audit.record(auditEntry(actor, meta, { action: "secret.get", resource: name.name, outcome: "allowed", reason: `operator role`, version: found.version }, now));
    return { name: name.name, ...encodeValue(bytes), version: found.version };
  }

  /** Whether the backend lists `version` of `location` as destroyed (false when it cannot say). */
  private async isDestroyed(backend: ReturnType<MountTable["resolve"]>["backend"], location: string, version: number): Promise<boolean> {
    if (!isWritable(backend)) return false;
    const versions = await backend.versions(location).catch(() => []);
    return versions.some((entry) => entry.version === version && entry.destroyed);
  }

  /**
   * Writes version `toVersion`'s value again as a new version (the history is never rewritten),
   * audited `admin.secret.rollback` with the new version; the value is never returned.
   * @throws BrokerError `invalid_path` (a `#key` name), `not_found` (no such secret, or that
   *   version does not exist or was destroyed), `invalid_request` (a read-only mount).
   */
  async rollback(actor: Actor, rawPath: string, toVersion: number, meta: RequestMeta): Promise<{ version: number; from: number }> {
    const name = parseSecretName(rawPath);
    if (name.key !== undefined) throw new BrokerError("invalid_path", "roll back the whole secret, not one #key of it");
    if (!Number.isSafeInteger(toVersion) || toVersion < 1) throw new BrokerError("invalid_request", "the version to roll back to is a whole number from 1");
    const { backend, location } = this.writable(name.path);
    const found = await backend.read(location, toVersion);
    if (!found || found.version !== toVersion) {
      const destroyed = await this.isDestroyed(backend, location, toVersion);
      throw new BrokerError("not_found", destroyed ? `version ${toVersion} of ${name.path} was destroyed` : `version ${toVersion} of ${name.path} not found`);
    }
    const version = await backend.write(location, found.bytes, { createdBy: actor.id });
    await this.deps.audit.record(auditEntry(actor, meta, { action: "admin.secret.rollback", resource: name.path, outcome: "allowed", reason: `value of version ${toVersion}`, version }, this.deps.clock()));
    this.deps.onChanged?.(name.path, version);
    return { version, from: toVersion };
  }

  /**
   * Destroys one version irreversibly: on the local store its ciphertext and data key are erased;
   * on Vault KV v2 it is KV's `destroy`. A backend that cannot destroy one version (AWS Secrets
   * Manager, which removes versions by their staging labels itself) is refused, naming why.
   * Audited `admin.secret.destroy` with the version.
   * @throws BrokerError `not_found` (no such version, or destroyed already), `invalid_request`.
   */
  async destroyVersion(actor: Actor, rawPath: string, version: number, meta: RequestMeta): Promise<void> {
    const name = parseSecretName(rawPath);
    if (name.key !== undefined) throw new BrokerError("invalid_path", "destroy a version of the whole secret, not one #key of it");
    if (!Number.isSafeInteger(version) || version < 1) throw new BrokerError("invalid_request", "the version to destroy is a whole number from 1");
    const { backend, location } = this.writable(name.path);
    if (!isDestroyable(backend)) {
      throw new BrokerError(
        "invalid_request",
        `mount ${backend.mount} (${backend.kind}) cannot destroy one version: Secrets Manager has no such operation (it drops versions that lose every staging label); delete the secret, or rotate so the version loses its labels`,
      );
    }
    if (!(await backend.destroyVersion(location, version))) throw new BrokerError("not_found", `version ${version} of ${name.path} not found or already destroyed`);
    // No change event: the secret and its current version live on (a destroyed current version reads as not found).
    await this.deps.audit.record(auditEntry(actor, meta, { action: "admin.secret.destroy", resource: name.path, outcome: "allowed", reason: "version destroyed", version }, this.deps.clock()));
  }

  async remove(actor: Actor, rawPath: string, meta: RequestMeta): Promise<void> {
    const name = parseSecretName(rawPath);
    const { backend, location } = this.writable(name.path);
    if (!(await backend.remove(location))) throw new BrokerError("not_found", `secret ${name.path} not found`);
    await this.deps.audit.record(auditEntry(actor, meta, { action: "admin.secret.delete", resource: name.path, outcome: "allowed", reason: "deleted" }, this.deps.clock()));
    this.deps.onChanged?.(name.path, null);
  }
}

/** The wire form of one secret's metadata, or of a list entry (which also names its mount and backend). */
export function secretMetadataToJson(metadata: SecretMetadata | ListedSecret) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    path: metadata.path,
    ...("backend" in metadata && { mount: metadata.mount, backend: metadata.backend }),
    description: metadata.description,
    owner: metadata.owner,
    labels: metadata.labels,
    sensitivity: metadata.sensitivity,
    current_version: metadata.currentVersion,
    created_at: iso(metadata.createdAt),
    updated_at: iso(metadata.updatedAt),
  };
}
